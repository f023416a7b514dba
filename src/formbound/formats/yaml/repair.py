"""Named, deterministic repairs of near-YAML model output (see :data:`REPAIRS`).

Every repair runs in time linear in the text (no regex that can backtrack over a long run of the same
character). Prose stripping never drops part of the answer: where the text holds several YAML blocks (or
fenced blocks), the caller's ``choose`` decides; :class:`~formbound.formats.yaml.YamlSpec` takes the one
block that validates and otherwise refuses the text, naming the blocks it found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import combinations

from formbound.formats.base import Candidate

__all__ = ["REPAIRS", "Block", "candidates"]

#: Repairs :func:`candidates` tries, in this order (and combined).
REPAIRS: tuple[str, ...] = ("strip_fence", "strip_prose", "tabs_to_spaces", "document_markers")

#: One candidate region of a text: (first line number, 1-based; the region's text).
Block = tuple[int, str]

# What follows an opening ```: unambiguous (the language tag starts with a name character, never a
# space), so a long run of spaces is scanned once.
_FENCE_TAG = re.compile(r"[ \t]*(?:([A-Za-z0-9_+-]+)[ \t]*)?\r?")
_MARKER = re.compile(r"^(---|\.\.\.)[ \t]*$")
# A plain key may not start with a YAML indicator or a space.
_PLAIN_KEY_FIRST = frozenset("#'\"-?:[]{},|>!&*%@`")


def _fences(text: str) -> list[Block]:
    """Fenced blocks, by line: an unterminated last fence runs to the end of the text."""
    out: list[tuple[int, str, str]] = []
    if "```" not in text:
        return []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        at = lines[i].find("```")
        m = _FENCE_TAG.fullmatch(lines[i], at + 3) if at >= 0 else None
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].lstrip(" \t").startswith("```"):
            j += 1
        lang = (m.group(1) or "").lower()
        out.append((i + 2, lang, "\n".join(lines[i + 1 : j]).strip("\r\n") + "\n"))
        i = j + 1
    tagged = [(line, body) for line, lang, body in out if lang in ("yaml", "yml")]
    return tagged or [(line, body) for line, _, body in out]


def _key_end(line: str) -> tuple[str, int] | None:
    """The key and the index of its ``:`` when ``line`` starts with ``key:`` (one pass, no backtracking)."""
    if not line:
        return None
    quote = line[0]
    if quote in "\"'":
        i = 1
        while i < len(line):
            c = line[i]
            if quote == '"' and c == "\\":
                i += 2
                continue
            if c == quote:
                if quote == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
        else:
            return None
        key, j = line[: i + 1], i + 1
        while j < len(line) and line[j] in " \t":
            j += 1
        return (key, j) if line[j : j + 1] == ":" else None
    if line[0].isspace() or line[0] in _PLAIN_KEY_FIRST:
        return None
    for j, c in enumerate(line):
        if c == "#":
            return None
        if c == ":":
            return line[:j].rstrip(" \t"), j
    return None


def _keyish(line: str, known: tuple[str, ...]) -> bool:
    found = _key_end(line)
    if found is None:
        return False
    key, colon = found
    if line[colon + 1 : colon + 2] not in ("", " ", "\t"):
        return False
    if key[0] in "\"'":
        return True
    return key in known if known else not any(c.isspace() for c in key)


def _starts_block(line: str, known: tuple[str, ...]) -> bool:
    return (
        _keyish(line, known)
        or line.rstrip() in ("-", "---", "?")
        or line.startswith(("- ", "--- ", "? ", ": "))
    )


def _continues_block(line: str) -> bool:
    return not line.strip() or line[0] in " \t#-}]?:" or bool(_MARKER.match(line)) or _keyish(line, ())


def prose_blocks(text: str, known: tuple[str, ...]) -> list[Block]:
    """The YAML blocks (or the one JSON value) found between lines of prose.

    A block starts at a line that reads as YAML (``key:`` — a schema key where the schema names keys —,
    ``- item``, ``? key``, ``---``) and runs over indented, blank, comment and key lines; a prose line
    ends it, and a later YAML line starts another block. Before any block, a prose line holding ``{`` or
    ``[`` starts a JSON value that runs to the last closing bracket, provided nothing after it reads
    as YAML.
    """
    lines = text.splitlines(keepends=True)
    blocks: list[Block] = []
    offset = 0
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        if not line.strip():
            offset += len(lines[i])
            i += 1
            continue
        if _starts_block(line, known):
            j = i + 1
            while j < len(lines) and _continues_block(lines[j].rstrip("\r\n")):
                j += 1
            body = [x.rstrip("\r\n") for x in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            blocks.append((i + 1, "\n".join(body) + "\n"))
            i = j
            continue
        brace = -1
        if not blocks and ("{" in line or "[" in line):
            brace = min(p for p in (line.find("{"), line.find("[")) if p >= 0)
        if brace >= 0:
            first = offset + brace
            last = max(text.rfind("}"), text.rfind("]"))
            rest = text[last + 1 :].splitlines()
            if last > first and not any(_starts_block(x, known) for x in rest[1:]):
                return [(i + 1, text[first : last + 1] + "\n")]
            return []
        offset += len(lines[i])
        i += 1
    return blocks


Chooser = Callable[[str, list[Block]], str]


def _one(what: str, choose: Chooser | None) -> Callable[[list[Block]], str | None]:
    def pick(blocks: list[Block]) -> str | None:
        if not blocks:
            return None
        if len(blocks) == 1 or choose is None:
            return blocks[0][1] if len(blocks) == 1 else None
        return choose(what, blocks)

    return pick


def _tabs_to_spaces(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        return m.group(0).replace("\t", "  ")

    return re.sub(r"^[ \t]+", fix, text, flags=re.M)


def _document_markers(text: str) -> str:
    lines = text.splitlines()
    start, end = 0, len(lines)
    while start < end and (
        not lines[start].strip() or lines[start].rstrip() == "---" or lines[start].startswith("%")
    ):
        start += 1
    while end > start and (not lines[end - 1].strip() or _MARKER.match(lines[end - 1])):
        end -= 1
    return "\n".join(lines[start:end]) + "\n" if end > start else text


def candidates(
    text: str, known: tuple[str, ...], choose: Chooser | None = None, budget: int | None = None
) -> Iterator[Candidate]:
    """Repaired texts, single repairs first, then combinations (in :data:`REPAIRS` order).

    Args:
        text: The model output.
        known: The schema's top-level property names (they tell keys from prose).
        choose: Called as ``choose(what, blocks)`` when a repair finds several blocks (``what`` is
            ``"fenced blocks"`` or ``"YAML blocks"``); returns the text to keep or raises. Without it,
            such a repair does nothing.
        budget: Stop once the candidates yielded add up to this many characters (each is parsed).
    """
    fence = _one("fenced blocks", choose)
    prose = _one("YAML blocks", choose)
    steps: dict[str, Callable[[str], str | None]] = {
        "strip_fence": lambda t: fence(_fences(t)),
        "strip_prose": lambda t: prose(prose_blocks(t, known)),
        "tabs_to_spaces": _tabs_to_spaces,
        "document_markers": _document_markers,
    }
    seen = {text.strip()}
    spent = 0
    memo: dict[tuple[str, str], str | None] = {}  # combinations share prefixes: each step runs once

    def step(name: str, current: str) -> str | None:
        if (name, current) not in memo:
            memo[name, current] = steps[name](current)
        return memo[name, current]

    for size in range(1, len(REPAIRS) + 1):
        for names in combinations(REPAIRS, size):
            current = text
            for name in names:
                fixed = step(name, current)
                if fixed is None or fixed.strip() == current.strip():  # same document: not a repair
                    break
                current = fixed
            else:
                if current.strip() not in seen and current.strip():
                    seen.add(current.strip())
                    spent += len(current)
                    if budget is not None and spent > budget:
                        return
                    yield Candidate(current, names)
