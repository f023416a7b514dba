"""Named, deterministic repairs of near-YAML model output (see :data:`REPAIRS`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import combinations

from formbound.formats.base import Candidate

__all__ = ["REPAIRS", "candidates"]

#: Repairs :func:`candidates` tries, in this order (and combined).
REPAIRS: tuple[str, ...] = ("strip_fence", "strip_prose", "tabs_to_spaces", "document_markers")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:\r?\n[ \t]*```|\Z)", re.S)
_KEYISH = re.compile(
    r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\-?:\[\]{},|>!&*%@`][^:#]*?)[ \t]*:(?:[ \t]|$)"""
)
_MARKER = re.compile(r"^(---|\.\.\.)[ \t]*$")


def _strip_fence(text: str) -> str:
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    for lang, body in blocks:
        if lang.lower() in ("yaml", "yml"):
            return str(body).strip("\n") + "\n"
    return str(blocks[0][1]).strip("\n") + "\n"


def _keyish(line: str, known: tuple[str, ...]) -> bool:
    m = _KEYISH.match(line)
    if not m:
        return False
    key = m.group(1)
    if key[0] in "\"'":
        return True
    return key in known if known else not any(c.isspace() for c in key)


def _strip_prose(text: str, known: tuple[str, ...]) -> str:
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if _keyish(line, known) or line.rstrip() in ("-", "---") or line.startswith(("- ", "--- ")):
            start = i
            break
        brace = min((p for p in (line.find("{"), line.find("[")) if p >= 0), default=-1)
        if brace >= 0:  # a JSON value inside prose: from its opening to the last closing bracket
            first = sum(len(x) + 1 for x in lines[:i]) + brace
            last = max(text.rfind("}"), text.rfind("]"))
            return text[first : last + 1] + "\n" if last > first else text
    if start is None:
        return text
    end = len(lines)
    for j in range(start + 1, len(lines)):
        line = lines[j]
        if not line.strip() or line[0] in " \t#-}]" or _MARKER.match(line) or _keyish(line, ()):
            continue
        end = j
        break
    body = lines[start:end]
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(body) + "\n" if body else text


def _tabs_to_spaces(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        return m.group(0).replace("\t", "  ")

    return re.sub(r"^[ \t]+", fix, text, flags=re.M)


def _document_markers(text: str) -> str:
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].rstrip() == "---" or lines[0].startswith("%")):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _MARKER.match(lines[-1])):
        lines.pop()
    return "\n".join(lines) + "\n" if lines else text


def candidates(text: str, known: tuple[str, ...]) -> Iterator[Candidate]:
    """Repaired texts, single repairs first, then combinations (in :data:`REPAIRS` order).

    Args:
        text: The model output.
        known: The schema's top-level property names (they tell keys from prose).
    """
    steps: dict[str, Callable[[str], str]] = {
        "strip_fence": _strip_fence,
        "strip_prose": lambda t: _strip_prose(t, known),
        "tabs_to_spaces": _tabs_to_spaces,
        "document_markers": _document_markers,
    }
    seen = {text}
    for size in range(1, len(REPAIRS) + 1):
        for names in combinations(REPAIRS, size):
            current = text
            for name in names:
                fixed = steps[name](current)
                if fixed == current:
                    break
                current = fixed
            else:
                if current not in seen and current.strip():
                    seen.add(current)
                    yield Candidate(current, names)
