"""Compatibility alias for :mod:`formbound.formats.jsonschema` (the YAML format still imports it here)."""

from __future__ import annotations

from formbound.formats.jsonschema import UNENFORCED_KEYWORDS, SchemaValidator, grammar_schema, json_pointer

__all__ = ["UNENFORCED_KEYWORDS", "SchemaValidator", "grammar_schema", "json_pointer"]
