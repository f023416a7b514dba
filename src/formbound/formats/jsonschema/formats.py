"""Format checkers: jsonschema's own, plus ``iri`` / ``iri-reference`` without a grammar built at import.

jsonschema checks ``iri`` only with ``rfc3987`` (GPL) or ``rfc3987-syntax`` (which builds a Lark grammar
when imported: seconds of cold start for every ``formbound check``). Neither is a dependency here: an IRI
is checked through its URI mapping (RFC 3987 section 3.1: non-ASCII characters allowed by the IRI grammar
are UTF-8 percent-encoded) and ``rfc3986-validator``, which jsonschema already uses for ``uri``.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

__all__ = ["format_checker", "is_iri", "is_iri_reference"]

#: Drafts that define the ``iri`` formats.
_IRI_DRAFTS = frozenset(
    {
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    }
)


def _iri_char(cp: int, in_query: bool) -> bool:
    """``ucschar`` (anywhere) or ``iprivate`` (query only) of RFC 3987: non-ASCII an IRI may hold."""
    if 0xA0 <= cp <= 0xD7FF or 0xF900 <= cp <= 0xFDCF or 0xFDF0 <= cp <= 0xFFEF:
        return True
    if 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFD:
        return in_query and (cp & 0xFFFF) <= 0xFFFD
    return 0x10000 <= cp <= 0xEFFFD and (cp & 0xFFFF) <= 0xFFFD and not 0xE0000 <= cp < 0xE1000


def _to_uri(iri: str) -> str | None:
    out = []
    in_query = in_fragment = False
    for ch in iri:
        if ch == "#":
            in_query, in_fragment = False, True
        elif ch == "?" and not in_fragment:
            in_query = True
        if ord(ch) < 0x80:
            out.append(ch)
        elif _iri_char(ord(ch), in_query):
            out.append(quote(ch, safe=""))
        else:
            return None
    return "".join(out)


def _valid(value: Any, rule: str) -> bool:
    if not isinstance(value, str):
        return True
    from rfc3986_validator import validate_rfc3986

    uri = _to_uri(value)
    return uri is not None and bool(validate_rfc3986(uri, rule=rule))


def is_iri(value: Any) -> bool:
    """Whether ``value`` is an absolute IRI (non-strings pass: ``format`` applies to strings only)."""
    return _valid(value, "URI")


def is_iri_reference(value: Any) -> bool:
    """Whether ``value`` is an IRI reference (absolute or relative)."""
    return _valid(value, "URI_reference")


@cache
def format_checker(cls: type) -> Any:
    """The format checker for validator class ``cls``: its own, with ``iri`` formats where missing."""
    from jsonschema import FormatChecker

    stock: Any = getattr(cls, "FORMAT_CHECKER")  # noqa: B009 (validator classes are untyped)
    checker = FormatChecker(formats=())
    checker.checkers = dict(stock.checkers)
    if str(cls.META_SCHEMA.get("$schema", "")).rstrip("#") in _IRI_DRAFTS:  # type: ignore[attr-defined]
        for name, fn in (("iri", is_iri), ("iri-reference", is_iri_reference)):
            checker.checkers.setdefault(name, (fn, ()))
    return checker
