"""YAML scalars written so they read back as the same value with any YAML reader.

Strings are plain scalars only where YAML cannot read them as anything else (they start with a letter,
use a conservative character set and are not ``null``/``true``/``yes``/``no``/…), otherwise
double-quoted with escapes that each decode to exactly one character. The grammar
(:mod:`.grammar`) and the dumper (:mod:`.dump`) share these rules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PLAIN_FIRST", "PLAIN_RESERVED", "PLAIN_REST", "dq_escape", "is_plain_safe", "render_scalar"]

#: Words a plain scalar may not be: YAML 1.2 null/booleans, plus the YAML 1.1 booleans, so that what the
#: grammar and :func:`render_scalar` write reads back as a string with any YAML reader.
PLAIN_RESERVED: tuple[str, ...] = tuple(
    w
    for base in ("null", "true", "false", "yes", "no", "on", "off", "y", "n")
    for w in dict.fromkeys((base, base.capitalize(), base.upper()))
)
PLAIN_FIRST = "A-Za-z_"
PLAIN_REST = "A-Za-z0-9_ .,/()'+-"


def is_plain_safe(s: str) -> bool:
    """True when ``s`` can be written as a plain scalar and reads back as the same string."""
    if not s or s in PLAIN_RESERVED or len(s) > 1000:
        return False
    if not ("A" <= s[0] <= "Z" or "a" <= s[0] <= "z" or s[0] == "_") or s[-1] == " ":
        return False
    return all(c.isascii() and (c.isalnum() or c in "_ .,/()'+-") for c in s)


def dq_escape(s: str) -> str:
    """``s`` as a double-quoted YAML scalar."""
    out = []
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif o < 0x20 or 0x7F <= o <= 0x9F:
            out.append(f"\\x{o:02x}")
        elif o in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF) or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def render_scalar(value: Any, *, flow: bool = False) -> str:
    """A scalar (or, for a container, one line of flow style) as YAML text that loads back to ``value``.

    Strings are plain where that is safe, double-quoted otherwise; ``flow=True`` (inside ``[...]`` or
    ``{...}``) always quotes them.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, str):
        return value if (not flow and is_plain_safe(value)) else dq_escape(value)
    if isinstance(value, dict):
        items = ", ".join(f"{dq_escape(str(k))}: {render_scalar(v, flow=True)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_scalar(v, flow=True) for v in value) + "]"
    return dq_escape(str(value))
