"""``Generator`` overhead vs calling ``model.generate`` + ``enforce`` directly, per item, in one run.

The model is a fake that answers instantly with canned valid JSON (the gold answers of the bundled
``contacts`` task set), so the ratio isolates what formbound adds around a model call; with a real model
one decoded token (tens of ms on CPU) dwarfs both sides. Both routes do the same work a user would
otherwise write by hand: render the strategy's prompt (instruction + few-shot examples), call the model
with the spec's constraint, and ``enforce`` the text with the generation's finish reason.

  * direct:    ``strategy.messages(...)`` + ``model.generate([msgs], constraint=...)`` + ``enforce(...)``
  * Generator: ``gen(item)`` (and ``gen.batch(items)`` against the batched direct loop)

A third pair starts from prompts already rendered (``gen.run([messages])``, what ``evaluate`` calls, vs
``generate`` + ``enforce``): it isolates the re-ask loop's bookkeeping from the prompt cache, which
renders the input-independent part of a prompt once per ``Generator``.

Figures are medians over alternating rounds of CPU time, microseconds per item; the ratio is
Generator / direct.
Target: ≤ 1.02× per item.

Rerun: OMP_NUM_THREADS=1 python bench/bench_generator.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine, table

import formbound as fb
from formbound.measure import load_task_set
from formbound.measure.strategies import choose_examples
from formbound.models.base import Generation, Model
from formbound.strategies import parse_strategy

ROOT = Path(__file__).resolve().parent.parent


class Canned(Model):
    """Answers instantly, cycling through valid texts (the cost of a dict lookup per prompt)."""

    name = "canned"

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.i = 0

    def generate(self, prompts: Sequence[Any], **kw: Any) -> list[Generation]:
        out = []
        for _ in prompts:
            out.append(Generation(self.texts[self.i % len(self.texts)], 50, 40, 0.0, "stop"))
            self.i += 1
        return out


def interleaved(base: Callable[[], Any], ours: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """Median CPU seconds of one pass of each route, the two alternating round by round.

    CPU time of this process (not wall time): on a machine shared with other work, time spent waiting
    for a core is not formbound's. Alternating (and swapping which goes first) spreads cache and load
    changes over both routes.
    """
    times: dict[str, list[float]] = {"base": [], "ours": []}
    for r in range(rounds):
        order = (("base", base), ("ours", ours)) if r % 2 == 0 else (("ours", ours), ("base", base))
        for key, fn in order:
            started = time.process_time()
            fn()
            times[key].append(time.process_time() - started)
    return statistics.median(times["base"]), statistics.median(times["ours"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31, help="timing rounds (the median is reported)")
    args = parser.parse_args()

    ts = load_task_set(ROOT / "src" / "formbound" / "tasksets" / "contacts")
    inputs = [t.input for t in ts.tasks]
    texts = [json.dumps(t.gold) for t in ts.tasks]
    examples = [(t.input, ts.gold_text(t)) for t in choose_examples(ts, 3, 0)]
    model = Canned(texts)

    rows = []
    for name in ("prompted", "constrained", "reask"):
        strategy = parse_strategy(name)
        gen = fb.Generator(
            model,
            ts.spec,
            strategy=strategy,
            instruction=ts.instruction,
            examples=examples,
            max_new_tokens=160,
        )
        constraint = ts.spec.constraint() if strategy.constrained else None

        def direct_one(item: str, strategy: Any = strategy, constraint: Any = constraint) -> Any:
            msgs = strategy.messages(ts.spec, item, instruction=ts.instruction, examples=examples)
            (g,) = model.generate(
                [msgs], constraint=constraint, max_new_tokens=160, temperature=0.0, seed=None
            )
            return fb.enforce(g.text, ts.spec, repair=strategy.repair, finish_reason=g.finish_reason)

        def direct_batch(strategy: Any = strategy, constraint: Any = constraint) -> Any:
            msgs = [
                strategy.messages(ts.spec, x, instruction=ts.instruction, examples=examples) for x in inputs
            ]
            gens = model.generate(msgs, constraint=constraint, max_new_tokens=160, temperature=0.0, seed=None)
            return [
                fb.enforce(g.text, ts.spec, repair=strategy.repair, finish_reason=g.finish_reason)
                for g in gens
            ]

        def generator_one(gen: Any = gen) -> Any:
            return [gen(x) for x in inputs]

        def direct_each(direct_one: Any = direct_one) -> Any:
            return [direct_one(x) for x in inputs]

        # the same answers both ways (a benchmark of different work would be meaningless)
        model.i = 0
        a = [r.value for r in generator_one()]
        model.i = 0
        b = [r.value for r in direct_each()]
        assert a == b, name
        n = len(inputs)
        prebuilt = [
            strategy.messages(ts.spec, x, instruction=ts.instruction, examples=examples) for x in inputs
        ]

        def direct_prebuilt(
            strategy: Any = strategy, constraint: Any = constraint, prebuilt: Any = prebuilt
        ) -> Any:
            out = []
            for msgs in prebuilt:
                (g,) = model.generate(
                    [msgs], constraint=constraint, max_new_tokens=160, temperature=0.0, seed=None
                )
                out.append(fb.enforce(g.text, ts.spec, repair=strategy.repair, finish_reason=g.finish_reason))
            return out

        def generator_prebuilt(gen: Any = gen, prebuilt: Any = prebuilt) -> Any:
            return [gen.run([msgs]) for msgs in prebuilt]

        for mode, base_fn, gen_fn in (
            ("one call per item", direct_each, generator_one),
            ("one batch", direct_batch, lambda gen=gen: gen.batch(inputs)),
            ("prompts given (`run`)", direct_prebuilt, generator_prebuilt),
        ):
            b_us, g_us = interleaved(base_fn, gen_fn, args.rounds)
            b_us, g_us = b_us / n * 1e6, g_us / n * 1e6
            rows.append(
                [name, mode, f"{b_us:.1f}", f"{g_us:.1f}", f"{g_us - b_us:+.1f}", f"{g_us / b_us:.3f}x"]
            )

    print(
        f"{len(inputs)} contacts items, a fake model answering instantly; "
        f"CPU time, medians of {args.rounds} rounds"
    )
    print(machine(["pydantic", "jsonschema"]))
    print()
    print(table(["strategy", "calls", "direct µs/item", "Generator µs/item", "overhead µs", "ratio"], rows))
    print()
    rounds = f" --rounds {args.rounds}" if args.rounds != 31 else ""
    print(f"Rerun: OMP_NUM_THREADS=1 python bench/bench_generator.py{rounds}")


if __name__ == "__main__":
    main()
