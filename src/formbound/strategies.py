"""Strategies: the named rungs of the ladder, as :class:`formbound.Generator` runs them and
``formbound eval`` measures them (one definition for both).

=================================  ==========================================================================
name                               what it does
=================================  ==========================================================================
``raw``                            the task input with the one-line request; ``enforce(..., repair=False)``
``prompted``                       format instructions and few-shot examples from the train split; no repair
``repaired``                       ``prompted`` + the format's deterministic repairs
``reask`` / ``reask:N``            ``repaired`` + up to N re-asks (default 2) with the validator's errors
``constrained``                    ``prompted`` + a grammar from ``spec.constraint()``, post-validated
``constrained+norepeat``           ``constrained`` + the repetition guard (opt-in; measured as its own rung)
``adapter:PATH``                   ``prompted`` with the LoRA adapter at PATH switched on
``adapter:PATH+constrained``       the adapter and the grammar together
=================================  ==========================================================================

Constrained rungs validate *without* repairs: a grammar guarantees a valid prefix, not an ending, and
the only repair that could touch grammar output is closing a value cut off by the token limit — which
would turn a runaway generation into a fake success. Post-validation still runs (the grammar enforces
a subset of some schemas), so the constrained numbers are what the grammar actually delivers.

Adapter rungs use the prompt recorded in the adapter's ``metadata.json`` under ``"prompt"``
(``{"style": "raw"|"prompted", "shots": N}``), so the adapter is measured on the prompt it was trained
on; without that record they use the ``prompted`` style with no few-shot examples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from formbound._util import suggest
from formbound.errors import ConfigError

if TYPE_CHECKING:
    from formbound.spec import Spec

__all__ = [
    "DEFAULT_REASKS",
    "DEFAULT_SHOTS",
    "RUNGS",
    "Strategy",
    "parse_strategies",
    "parse_strategy",
]

#: Few-shot examples in ``prompted`` prompts.
DEFAULT_SHOTS = 3
#: Re-asks of the ``reask`` rung.
DEFAULT_REASKS = 2


@dataclass(frozen=True)
class Strategy:
    """One way of getting an answer from a model.

    Attributes:
        name: The name as written, e.g. ``"reask:3"`` or ``"adapter:runs/a+constrained"``.
        style: Prompt style passed to :func:`formbound.prompts.build_messages`.
        shots: Few-shot examples from the train split.
        repair: Whether the answer may be repaired (``enforce(..., repair=...)``).
        reasks: Re-asks allowed after a failed answer.
        constrained: Whether decoding follows ``spec.constraint()``.
        norepeat: With ``constrained``: turn on the repetition guard (``Constraint.repetition_guard``).
        adapter: The LoRA adapter folder to switch on, or ``None`` for the base model.
    """

    name: str
    style: str = "prompted"
    shots: int = DEFAULT_SHOTS
    repair: bool = False
    reasks: int = 0
    constrained: bool = False
    adapter: str | None = None
    norepeat: bool = False

    def __post_init__(self) -> None:
        if self.style not in ("raw", "prompted"):
            raise ConfigError(
                f"strategy {self.name!r}: style must be 'raw' or 'prompted', got {self.style!r}"
            )
        if self.shots < 0 or self.reasks < 0:
            raise ConfigError(f"strategy {self.name!r}: shots and reasks must be >= 0")

    def messages(
        self,
        spec: Spec,
        task_input: str,
        *,
        instruction: str | None = None,
        examples: Sequence[tuple[str, str]] = (),
    ) -> list[dict[str, str]]:
        """The chat messages of the first attempt at ``task_input``.

        At most :attr:`shots` of ``examples`` (``(input, output)`` pairs) are shown, none for ``raw``.
        """
        from formbound.prompts import build_messages

        shots = list(examples)[: self.shots] if self.style == "prompted" else []
        return build_messages(
            spec,
            task_input,
            instruction=instruction,
            examples=shots,
            style=cast(Literal["raw", "prompted"], self.style),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "shots": self.shots if self.style == "prompted" else 0,
            "repair": self.repair,
            "reasks": self.reasks,
            "constrained": self.constrained,
            "adapter": self.adapter,
            **({"norepeat": True} if self.norepeat else {}),
        }


#: The built-in rungs, cheapest first.
RUNGS: dict[str, Strategy] = {
    "raw": Strategy("raw", style="raw", shots=0),
    "prompted": Strategy("prompted"),
    "repaired": Strategy("repaired", repair=True),
    "reask": Strategy("reask", repair=True, reasks=DEFAULT_REASKS),
    "constrained": Strategy("constrained", constrained=True),
    "constrained+norepeat": Strategy("constrained+norepeat", constrained=True, norepeat=True),
}


def _adapter_prompt(path: Path) -> tuple[str, int]:
    meta = path / "metadata.json"
    if meta.is_file():
        try:
            prompt = json.loads(meta.read_text(encoding="utf-8")).get("prompt") or {}
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ConfigError(f"adapter metadata {str(meta)!r} is not a JSON object: {exc}") from exc
        if isinstance(prompt, dict):
            return str(prompt.get("style", "prompted")), int(prompt.get("shots", 0))
    return "prompted", 0


def parse_strategy(text: str) -> Strategy:
    """A :class:`Strategy` from its name (see the module docstring); typos get "did you mean …".

    >>> parse_strategy("reask:3").reasks
    3
    """
    name = text.strip()
    if name.startswith("adapter:"):
        rest = name[len("adapter:") :]
        constrained = rest.endswith("+constrained")
        if constrained:
            rest = rest[: -len("+constrained")]
        if not rest:
            raise ConfigError(
                f"strategy {name!r} needs an adapter folder: adapter:PATH or adapter:PATH+constrained"
            )
        path = Path(rest)
        if not path.is_dir():
            raise ConfigError(f"strategy {name!r}: adapter folder {rest!r} does not exist")
        style, shots = _adapter_prompt(path)
        return Strategy(name, style=style, shots=shots, constrained=constrained, adapter=rest)
    base, _, arg = name.partition(":")
    if base == "reask" and arg:
        try:
            n = int(arg)
        except ValueError:
            raise ConfigError(
                f"strategy {name!r}: the number of re-asks must be an integer, e.g. reask:2"
            ) from None
        if n < 0:
            raise ConfigError(f"strategy {name!r}: the number of re-asks must be >= 0")
        return Strategy(name, repair=True, reasks=n)
    if name in RUNGS:
        return RUNGS[name]
    hint = suggest(base, [*RUNGS, "adapter"])
    extra = f"; did you mean {hint!r}?" if hint else ""
    raise ConfigError(
        f"unknown strategy {name!r} (known: {', '.join(RUNGS)}, reask:N, adapter:PATH, "
        f"adapter:PATH+constrained){extra}"
    )


def parse_strategies(spec: str | Sequence[str | Strategy]) -> list[Strategy]:
    """Strategies from a comma-separated list (``"raw,prompted,constrained"``) or a sequence of names."""
    items: list[str | Strategy] = (
        [s for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec)
    )
    if not items:
        raise ConfigError("no strategies given; e.g. --strategies raw,prompted,repaired,reask,constrained")
    out: list[Strategy] = []
    for item in items:
        strategy = item if isinstance(item, Strategy) else parse_strategy(item)
        if any(s.name == strategy.name for s in out):
            raise ConfigError(f"strategy {strategy.name!r} is listed twice")
        out.append(strategy)
    return out
