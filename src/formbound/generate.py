"""``Generator``: the ladder as one call — prompt, generate, (constrain), enforce, re-ask.

>>> import formbound as fb
>>> from formbound.models.base import Generation, Model
>>> class Echo(Model):  # any model source; here one that always answers the same
...     def generate(self, prompts, **kw):
...         return [Generation('{"n": 3}', 1, 1, 0.0, "stop") for _ in prompts]
>>> gen = fb.Generator(Echo(), {"type": "object", "properties": {"n": {"type": "integer"}}})
>>> gen("How many?").value
{'n': 3}

The same object runs every rung ``formbound eval`` measures (``raw``, ``prompted``, ``repaired``,
``reask[:N]``, ``constrained``, ``adapter:PATH[+constrained]``): the measurement runner calls it, so what
is measured is what ships. Every value it returns has passed :func:`formbound.enforce`; a generation cut
off by the token limit (``finish_reason == "length"``) is never a success.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from formbound.deployment import DEPLOY_FILE, deploy_record, read_deploy
from formbound.enforce import Result, enforce
from formbound.errors import Attempt, ConfigError, EnforcementError, GenerationError
from formbound.hooks import Hooks
from formbound.prompts.slots import PromptTemplate
from formbound.spec import Spec
from formbound.strategies import DEFAULT_REASKS, Strategy, parse_strategy

if TYPE_CHECKING:
    from formbound.constraints import Constraint
    from formbound.models.base import Generation, Model

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "DEPLOY_FILE", "Generator", "deploy_record"]

T = TypeVar("T")

#: Token limit per answer when none is given.
DEFAULT_MAX_NEW_TOKENS = 256

Input = str | Sequence[dict[str, str]]


class Generator(Generic[T]):
    """One structured answer per input, through one rung of the ladder.

    Args:
        model: A :class:`formbound.models.Model`, or anything :func:`formbound.models.load` takes
            (``"default"``, a local folder, a ``.gguf`` file, ``"openai:MODEL"``).
        spec: What the answer must be: a :class:`Spec`, a JSON Schema dict or file, or a pydantic model
            class; the value comes back as that type.
        strategy: A rung by the names ``formbound eval`` uses, or a :class:`~formbound.strategies.Strategy`.
            ``"auto"`` means ``constrained`` where the model source can constrain decoding, else ``reask``
            with ``retries`` re-asks.
        retries: Re-asks for ``"auto"``/``"reask"`` (``"reask:N"`` names its own).
        instruction: What to do with each input, e.g. ``"Extract the contact card."``.
        examples: Few-shot ``(input, output)`` pairs; an output that is not text is written in the spec's
            format. Shown by the ``prompted`` rungs (at most the strategy's number of shots).
        max_new_tokens: Token limit per answer (default 256).
        temperature: 0 for greedy decoding.
        seed: Seeds sampling where the model source supports it.
        hooks: Event handlers; ``generate`` is emitted around every call to the model source (see
            :mod:`formbound.hooks`).

    Raises:
        ConfigError: an unknown strategy (with "did you mean …"), negative retries, or an adapter strategy
            on a model that cannot switch adapters.
    """

    @overload
    def __init__(
        self: Generator[T],
        model: Any,
        spec: type[T],
        *,
        strategy: str | Strategy = ...,
        retries: int = ...,
        instruction: str | None = ...,
        examples: Sequence[tuple[str, Any]] | None = ...,
        max_new_tokens: int | None = ...,
        temperature: float = ...,
        seed: int | None = ...,
        hooks: Hooks | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: Generator[Any],
        model: Any,
        spec: Any,
        *,
        strategy: str | Strategy = ...,
        retries: int = ...,
        instruction: str | None = ...,
        examples: Sequence[tuple[str, Any]] | None = ...,
        max_new_tokens: int | None = ...,
        temperature: float = ...,
        seed: int | None = ...,
        hooks: Hooks | None = ...,
    ) -> None: ...

    def __init__(
        self,
        model: Any,
        spec: Any,
        *,
        strategy: str | Strategy = "auto",
        retries: int = DEFAULT_REASKS,
        instruction: str | None = None,
        examples: Sequence[tuple[str, Any]] | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"retries must be a whole number >= 0, got {retries!r}")
        if max_new_tokens is not None and (not isinstance(max_new_tokens, int) or max_new_tokens < 1):
            raise ConfigError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature!r}")
        self.model: Model = _load_model(model)
        self.spec: Spec = Spec.coerce(spec)
        self.strategy: Strategy = _resolve_strategy(strategy, self.model, retries)
        if self.strategy.adapter is not None and not callable(getattr(self.model, "set_adapter", None)):
            raise ConfigError(
                f"strategy {self.strategy.name!r} switches on a LoRA adapter, but model "
                f"{getattr(self.model, 'name', self.model)!r} cannot (no set_adapter); use a transformers "
                "or llama.cpp model, e.g. formbound.models.load('default')"
            )
        self.instruction = instruction
        self.examples: list[tuple[str, str]] = [(str(i), self._as_text(o)) for i, o in (examples or ())]
        self.max_new_tokens = max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        self.temperature = float(temperature)
        self.seed = seed
        self.hooks = hooks or Hooks()
        self._constraint: Constraint | None = self.spec.constraint() if self.strategy.constrained else None
        if self._constraint is not None and self.strategy.norepeat:
            self._constraint = dataclasses.replace(self._constraint, repetition_guard=True)
        self._template: PromptTemplate | None = None  # built on first use

    # ------------------------------------------------------------------------------------ public
    def __repr__(self) -> str:
        return (
            f"Generator(model={getattr(self.model, 'name', '?')!r}, spec={self.spec!r}, "
            f"strategy={self.strategy.name!r})"
        )

    def messages(self, item: Input) -> list[dict[str, str]]:
        """The chat messages of the first attempt at ``item`` (messages given as such are kept)."""
        if isinstance(item, str):
            # The attributes may be changed after the first call: the template follows them.
            key = (self.strategy, self.spec, self.instruction, tuple(self.examples))
            if self._template is None or self._template.key != key:
                self._template = PromptTemplate.build(self._render, key)
            if self._template:
                return self._template.fill(item)
            return self._render(item)
        if isinstance(item, Sequence) and all(isinstance(m, dict) and "content" in m for m in item):
            return [dict(m) for m in item if isinstance(m, dict)]
        raise ConfigError(f"a Generator input is text or a list of chat messages, got {type(item).__name__}")

    def _render(self, item: str) -> list[dict[str, str]]:
        return self.strategy.messages(self.spec, item, instruction=self.instruction, examples=self.examples)

    def __call__(self, item: Input) -> Result[T]:
        """The answer to ``item``.

        Raises:
            EnforcementError: no attempt satisfied the spec; it carries every attempt and generation.
        """
        (out,) = self.batch([item])
        if isinstance(out, EnforcementError):
            raise out
        return out

    def batch(self, items: Sequence[Input]) -> list[Result[T] | EnforcementError]:
        """Answers to ``items``, in order; a failed item is its :class:`EnforcementError`, not raised.

        Prompts go to the model source together (batched where the source batches).
        """
        prompts = [self.messages(it) for it in items]
        return self.run(prompts)

    async def agenerate(self, item: Input) -> Result[T]:
        """:meth:`__call__` without blocking the event loop (the model runs in a worker thread)."""
        return await asyncio.to_thread(self, item)

    async def abatch(self, items: Sequence[Input]) -> list[Result[T] | EnforcementError]:
        """:meth:`batch` without blocking the event loop."""
        return await asyncio.to_thread(self.batch, items)

    # ------------------------------------------------------------------------------------- core
    def run(self, prompts: Sequence[Sequence[dict[str, str]]]) -> list[Result[T] | EnforcementError]:
        """Run the rung on prepared first-attempt messages (what :meth:`batch` and ``evaluate`` call)."""
        if not prompts:
            return []
        if self.strategy.adapter is not None:
            self.model.set_adapter(self.strategy.adapter)  # type: ignore[attr-defined]
        try:
            return self._run(prompts)
        finally:
            if self.strategy.adapter is not None:
                self.model.set_adapter(None)  # type: ignore[attr-defined]

    def _run(self, prompts: Sequence[Sequence[dict[str, str]]]) -> list[Result[T] | EnforcementError]:
        n = len(prompts)
        # Lists, not copies of the messages: a re-ask builds a new conversation, nothing is mutated.
        conversations: list[Sequence[dict[str, str]]] = list(prompts)
        gens: list[list[Generation]] = [[] for _ in range(n)]
        outcomes: list[list[Result[Any] | EnforcementError]] = [[] for _ in range(n)]
        feedback: list[list[str | None]] = [[None] for _ in range(n)]
        todo = list(range(n))
        for attempt in range(self.strategy.reasks + 1):
            if attempt:
                from formbound.prompts import reask_messages

                todo = [i for i in todo if isinstance(outcomes[i][-1], EnforcementError)]
                if not todo:
                    break
                for i in todo:
                    err = outcomes[i][-1]
                    assert isinstance(err, EnforcementError)  # filtered just above
                    conversations[i] = reask_messages(
                        conversations[i], gens[i][-1].text, err, format=self.spec.format
                    )
                    feedback[i].append(conversations[i][-1]["content"])
            out = self._generate([list(conversations[i]) for i in todo], attempt)
            still = []
            for i, gen in zip(todo, out, strict=True):
                outcome = self._judge(gen)
                repeated = any(g.text == gen.text for g in gens[i])
                gens[i].append(gen)
                outcomes[i].append(outcome)
                if not repeated:  # greedy decoding that repeats itself: asking again changes nothing
                    still.append(i)
            todo = still
        return [self._final(outcomes[i], gens[i], feedback[i]) for i in range(n)]

    def _generate(self, prompts: list[list[dict[str, str]]], attempt: int) -> list[Generation]:
        started = time.perf_counter()
        out = self.model.generate(
            prompts,
            constraint=self._constraint,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            seed=self.seed,
        )
        if len(out) != len(prompts):
            raise GenerationError(
                f"model {getattr(self.model, 'name', '?')!r} returned {len(out)} generations for "
                f"{len(prompts)} prompts"
            )
        self.hooks.emit(
            "generate",
            strategy=self.strategy.name,
            size=len(prompts),
            attempt=attempt,
            seconds=time.perf_counter() - started,
        )
        return list(out)

    def _judge(self, gen: Generation) -> Result[Any] | EnforcementError:
        # Constrained rungs are judged without repairs: a grammar guarantees a valid prefix, not an
        # ending. A generation cut off by the token limit fails whatever it parses as.
        try:
            return enforce(gen.text, self.spec, repair=self.strategy.repair, finish_reason=gen.finish_reason)
        except EnforcementError as err:
            return err

    def _final(
        self,
        outcomes: list[Result[Any] | EnforcementError],
        gens: list[Generation],
        feedback: list[str | None],
    ) -> Result[T] | EnforcementError:
        # The answer handed on is the best attempt, not the last: a re-ask can make an answer worse.
        # A valid attempt beats any error, and the loop stops at the first valid one.
        chosen = len(outcomes) - 1
        if chosen and isinstance(outcomes[-1], EnforcementError):
            chosen = max(range(len(outcomes)), key=lambda k: (_rank(self.spec, outcomes[k]), -k))
        attempts: tuple[Attempt, ...] = ()
        if len(outcomes) > 1:  # only a re-ask loop keeps its attempts
            attempts = tuple(
                Attempt(g.text, o if isinstance(o, EnforcementError) else None, f)
                for g, o, f in zip(gens, outcomes, feedback, strict=True)
            )
        best = outcomes[chosen]
        if isinstance(best, EnforcementError):
            err = best.with_attempts(attempts)
            err.generations = tuple(gens)
            err.chosen = chosen
            return err
        return Result(
            best.value, self.spec, best.repairs, best.raw, attempts, generations=tuple(gens), chosen=chosen
        )

    def _as_text(self, output: Any) -> str:
        if isinstance(output, str):
            return output
        if hasattr(output, "model_dump"):
            output = output.model_dump(mode="json", by_alias=True)
        if self.spec.format == "sql":
            raise ConfigError(f"a SQL few-shot output must be the query text, got {type(output).__name__}")
        result = enforce(json.dumps(output, default=str), self.spec, repair=False)
        return result.text

    # ----------------------------------------------------------------------------------- deploy
    @classmethod
    def from_run(cls, run_dir: str | os.PathLike[str], model: Any = None, **overrides: Any) -> Generator[Any]:
        """The generator ``formbound escalate`` recommended in ``run_dir`` (read from ``decision.json``).

        Rebuilds the model (unless ``model`` is given), the adapter, the spec, the prompt (instruction and
        few-shot examples) and the strategy. The model is the engine the recommended strategy was measured
        on: ``llamacpp:default`` when the run measured its rungs through llama.cpp (with a warning, and the
        same weights on transformers, when llama-cpp-python is not installed). The decision records the
        spec and the prompt themselves and names files relative to the run folder, so a copied run folder
        still works.

        Args:
            run_dir: The ``--out`` folder of ``formbound escalate``.
            model: A model to use instead of the one the run recorded (e.g. one already loaded).
            overrides: Any :class:`Generator` option, e.g. ``max_new_tokens=``.

        Raises:
            ConfigError: the folder has no decision, or what it names cannot be found.
        """
        model_name, spec, options = read_deploy(run_dir)
        options.update(overrides)
        return cls(model if model is not None else model_name, spec, **options)


def _rank(spec: Spec, outcome: Result[Any] | EnforcementError) -> tuple[int, int]:
    """How far an attempt got: valid beats any error; a later stage and fewer problems beat earlier."""
    if not isinstance(outcome, EnforcementError):
        return (len(spec.stages) + 1, 0)
    stages = spec.stages
    rank = stages.index(outcome.stage) if outcome.stage in stages else len(stages)
    return (rank, -len(outcome.errors))


def _load_model(model: Any) -> Model:
    from formbound.models.base import Model

    if isinstance(model, Model):
        return model
    from formbound.models import load

    loaded: Model = load(model)
    return loaded


def _resolve_strategy(strategy: str | Strategy, model: Model, retries: int) -> Strategy:
    if isinstance(strategy, Strategy):
        return strategy
    if not isinstance(strategy, str):
        raise ConfigError(f"strategy must be a name or a Strategy, got {type(strategy).__name__}")
    if strategy == "auto":
        from formbound.models.lazy import LazyModel

        if isinstance(model, LazyModel):  # what the real model can do decides; a stand-in cannot say
            model = model.load()
        if getattr(model, "can_constrain", False):
            return parse_strategy("constrained")
        return parse_strategy(f"reask:{retries}")
    if strategy == "reask":
        return parse_strategy(f"reask:{retries}")
    return parse_strategy(strategy)
