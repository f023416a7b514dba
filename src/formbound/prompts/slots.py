"""The first-attempt prompt rendered once, with a slot where each input goes (a cache for Generator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from formbound.errors import ConfigError

__all__ = ["PromptTemplate"]


class PromptTemplate:
    """The first-attempt prompt rendered once, with a slot where each input goes.

    Rendering the system message (format instructions, the schema's shape) and the few-shot turns costs
    far more than the rest of a call; they do not depend on the input. The template is used only where
    rendering puts the input into the messages verbatim, checked by rendering two different sentinels
    padded with whitespace (a template that strips, escapes or transforms the input fails the check and
    every input is rendered in full).
    """

    _A = "\n \x00formbound-input-a\x00 \n"
    _B = "\n \x00formbound-input-b\x00 \n"

    def __init__(self, parts: list[tuple[str, list[str]]] | None, key: Any) -> None:
        self.parts = parts
        self.key = key

    def __bool__(self) -> bool:
        return self.parts is not None

    @classmethod
    def build(cls, render: Callable[[str], list[dict[str, str]]], key: Any) -> PromptTemplate:
        try:
            a, b = render(cls._A), render(cls._B)
        except ConfigError:
            return cls(None, key)
        if len(a) != len(b):
            return cls(None, key)
        parts = []
        for ma, mb in zip(a, b, strict=True):
            if set(ma) != {"role", "content"} or ma["role"] != mb.get("role"):
                return cls(None, key)
            pieces = ma["content"].split(cls._A)
            if cls._B.join(pieces) != mb["content"] or cls._B in ma["content"]:
                return cls(None, key)
            parts.append((ma["role"], pieces))
        if not any(len(pieces) > 1 for _, pieces in parts):
            return cls(None, key)
        return cls(parts, key)

    def fill(self, item: str) -> list[dict[str, str]]:
        assert self.parts is not None  # callers check bool(self) first
        return [{"role": role, "content": item.join(pieces)} for role, pieces in self.parts]
