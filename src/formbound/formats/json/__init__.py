"""The JSON format: parsing (:mod:`.parse`), named repairs (:mod:`.repair`); the spec (:mod:`.spec`)."""

from __future__ import annotations

from formbound.formats.json.spec import JsonSpec

__all__ = ["JsonSpec"]
