"""Runaways under a small token budget: the budget guard on and off, and the opt-in repetition guard.

Twelve short extraction prompts of our own (orders with repeated line items, people with e-mail
addresses, events), written so that the default model tends to repeat array elements or loop inside a
string. Each prompt is generated greedily with ``--max-new-tokens`` (default 64) by three routes in the
same process, the order rotating per prompt:

* ``guard on``: formbound's constrained route as shipped (arrays bounded for the budget bucket, the
  shortest completion forced near the limit);
* ``guard off``: the same grammar without budget bounds and without the guard (the route before);
* ``guard on + norepeat``: ``guard on`` plus the repetition guard (``constrained+norepeat``, opt-in).

Reported per route: answers cut at the limit (truncated), forced closes, schema-valid answers, field
accuracy (gold leaves matched over all items; an invalid answer matches nothing), repetition cuts, and
seconds per generated token.

Per-token overhead of the guard: ``--overhead-rounds`` more rounds of guard on / guard off on the same
prompts, interleaved (order alternating per prompt and round); before each timed call the prompt is
evaluated once unconstrained, so that a model with a prefix cache (llama.cpp) times decoding only, not
whichever route happened to see the prompt first. The two routes may emit different tokens
(that is the point of the guard), so the ratio is given twice: over all generations, and over the pairs
whose outputs are identical (pure cost of the guard's bookkeeping; the guard is active there too: plans
every few tokens, candidate checks in the margin).

``--source llamacpp:default`` runs the same on the llama.cpp route (the embedded GGUF).

Rerun: nice python bench/bench_runaway.py [--source default|llamacpp:default] [--max-new-tokens 64]
[--limit 12] [--overhead-rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import jsonschema
from _common import machine

ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["customer", "items"],
    "additionalProperties": False,
}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "skills": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "email", "age", "skills"],
    "additionalProperties": False,
}
EVENT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "date": {"type": "string"},
        "attendees": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "date", "attendees"],
    "additionalProperties": False,
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("Order from Ann: 1 x SHOE-42, 2 x SOCK-1.", ORDER,
     {"customer": "Ann", "items": [{"sku": "SHOE-42", "qty": 1}, {"sku": "SOCK-1", "qty": 2}]}),
    ("Bob ordered SHOE-42 (qty 3).", ORDER, {"customer": "Bob", "items": [{"sku": "SHOE-42", "qty": 3}]}),
    ("Customer Cy wants 4 HAT-7 and 1 HAT-8 and 2 HAT-9.", ORDER,
     {"customer": "Cy", "items": [{"sku": "HAT-7", "qty": 4}, {"sku": "HAT-8", "qty": 1},
                                  {"sku": "HAT-9", "qty": 2}]}),
    ("Dee: 5 units of CUP-1.", ORDER, {"customer": "Dee", "items": [{"sku": "CUP-1", "qty": 5}]}),
    ("John Smith, 41, john.smith@example.com, knows Python and SQL.", PERSON,
     {"name": "John Smith", "email": "john.smith@example.com", "age": 41, "skills": ["Python", "SQL"]}),
    ("Mary Jones (mary_jones@mail.org) is 29 and does design.", PERSON,
     {"name": "Mary Jones", "email": "mary_jones@mail.org", "age": 29, "skills": ["design"]}),
    ("Li Wei, age 35, email li.wei@corp.cn, skills: Go, Rust, C.", PERSON,
     {"name": "Li Wei", "email": "li.wei@corp.cn", "age": 35, "skills": ["Go", "Rust", "C"]}),
    ("Contact: Omar, omar@x.io, 50 years old, skills none.", PERSON,
     {"name": "Omar", "email": "omar@x.io", "age": 50, "skills": []}),
    ("Standup on 2024-05-02 with Ann and Bob.", EVENT,
     {"title": "Standup", "date": "2024-05-02", "attendees": ["Ann", "Bob"]}),
    ("Launch party, 2024-12-31; guests: Cy, Dee, Eve.", EVENT,
     {"title": "Launch party", "date": "2024-12-31", "attendees": ["Cy", "Dee", "Eve"]}),
    ("Board meeting 2025-01-15, attendees Ann.", EVENT,
     {"title": "Board meeting", "date": "2025-01-15", "attendees": ["Ann"]}),
    ("Retro on 2024-06-30 with the whole team: Ann, Bob, Cy.", EVENT,
     {"title": "Retro", "date": "2024-06-30", "attendees": ["Ann", "Bob", "Cy"]}),
]  # fmt: skip


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in leaves(sub, f"{path}/{key}").items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in leaves(sub, f"{path}/{i}").items()}
    return {path: value}


ROUTES = ("guard on", "guard off", "guard on + norepeat")


class _GuardOff:
    """The route before: no budget bounds and no closer, for the duration of one generate call."""

    def __init__(self, model: Any, constraint: Any, budget: int) -> None:
        import formbound.models.constrained as constrained
        import formbound.models.llamacpp_constrained as llamacpp_constrained

        self.modules = [constrained, llamacpp_constrained]
        self.model, self.constraint, self.budget = model, constraint, budget

    def __enter__(self) -> None:
        self.saved = [m.budget_bucket for m in self.modules]
        for m in self.modules:
            m.budget_bucket = lambda n: None  # type: ignore[attr-defined]
        compiler = getattr(self.model, "compiler", None) or self.model.grammars
        self.compiled = compiler.compile(self.constraint, self.budget)
        self.closer, self.compiled.closer = self.compiled.closer, None

    def __exit__(self, *exc: object) -> None:
        self.compiled.closer = self.closer
        for m, saved in zip(self.modules, self.saved, strict=True):
            m.budget_bucket = saved  # type: ignore[attr-defined]


def _generate(model: Any, route: str, prompt: Any, schema: Any, budget: int) -> tuple[Any, float]:
    from formbound.constraints import Constraint

    c = Constraint("json_schema", schema, repetition_guard=route.endswith("norepeat"))
    start = time.perf_counter()
    if route == "guard off":
        with _GuardOff(model, c, budget):
            (g,) = model.generate([prompt], constraint=c, max_new_tokens=budget)
    else:
        (g,) = model.generate([prompt], constraint=c, max_new_tokens=budget)
    return g, time.perf_counter() - start


def _prompt(text: str, schema: Any) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Answer with JSON only. Schema: " + json.dumps(schema)},
        {"role": "user", "content": text},
    ]


def _load(source: str) -> Any:
    import formbound.models

    if source.startswith("llamacpp:"):
        return formbound.models.load(source, n_threads=1, n_ctx=2048)
    return formbound.models.load(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="default")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--limit", type=int, default=len(CASES))
    parser.add_argument("--overhead-rounds", type=int, default=2)
    parser.add_argument("--overhead-only", action="store_true", help="skip the accuracy run")
    parser.add_argument(
        "--routes", default=",".join(ROUTES), help="comma-separated subset of: " + ", ".join(ROUTES)
    )
    args = parser.parse_args()
    routes = tuple(r.strip() for r in args.routes.split(","))
    if not set(routes) <= set(ROUTES):
        parser.error(f"--routes: choose from {ROUTES}")
    budget = args.max_new_tokens
    model = _load(args.source)
    cases = CASES[: args.limit]
    if args.overhead_only:
        routes = ("guard on", "guard off")
    for text, schema, _ in cases[:1]:  # warm-up: compile, closers, first-call costs (not measured)
        for route in routes:
            _generate(model, route, _prompt(text, schema), schema, budget)

    keys = ("n", "trunc", "forced", "valid", "ok", "total", "s", "tok", "cuts")
    stats = {r: dict.fromkeys(keys, 0.0) for r in routes}
    for index, (text, schema, gold) in enumerate([] if args.overhead_only else cases):
        order = routes[index % len(routes) :] + routes[: index % len(routes)]
        for route in order:
            g, seconds = _generate(model, route, _prompt(text, schema), schema, budget)
            s = stats[route]
            s["n"] += 1
            s["trunc"] += g.finish_reason == "length"
            s["forced"] += bool(g.extra.get("forced_close"))
            s["cuts"] += g.extra.get("repeats_blocked", 0)
            s["s"] += seconds
            s["tok"] += g.generated_tokens
            want = leaves(gold)
            s["total"] += len(want)
            try:
                value = json.loads(g.text)
                jsonschema.validate(value, schema)
            except (ValueError, jsonschema.ValidationError):
                value = None
            if value is not None and g.finish_reason == "stop":
                s["valid"] += 1
                got = leaves(value)
                s["ok"] += sum(got.get(k) == v for k, v in want.items())
            print((index, route, g.finish_reason, g.extra.get("forced_close"), g.text), f"{seconds:.2f} s",
                  flush=True)  # fmt: skip

    print(f"\n# runaway benchmark: {args.source}, greedy, {budget} new tokens, {len(cases)} prompts\n")
    print(f"machine: {machine(['torch', 'transformers', 'llguidance', 'llama_cpp_python'])}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}\n")
    if not args.overhead_only:
        print(
            "| route | truncated | forced close | schema-valid | field accuracy | repetition cuts "
            "| ms / token |"
        )
        print("|---|---|---|---|---|---|---|")
        n = len(cases)
        for route, s in stats.items():
            print(
                f"| {route} | {s['trunc']:.0f}/{n} | {s['forced']:.0f}/{n} | {s['valid']:.0f}/{n} | "
                f"{s['ok']:.0f}/{s['total']:.0f} ({s['ok'] / max(1, s['total']):.1%}) | {s['cuts']:.0f} | "
                f"{1000 * s['s'] / max(1, s['tok']):.1f} |"
            )
        base = stats.get("guard off")
        for route in ("guard on", "guard on + norepeat"):
            on = stats.get(route)
            if on is None or base is None:
                continue
            ratio = (on["s"] / max(1, on["tok"])) / (base["s"] / max(1, base["tok"]))
            print(f"\nper-token time in the accuracy run, {route} / guard off: {ratio:.3f}x")
    if args.overhead_rounds:
        _overhead(model, cases, budget, args.overhead_rounds)
    print(
        f"\nrerun: nice python bench/bench_runaway.py --source {args.source} --max-new-tokens {budget} "
        f"--limit {args.limit} --overhead-rounds {args.overhead_rounds} --routes '{','.join(routes)}'"
        + (" --overhead-only" if args.overhead_only else "")
    )


def _overhead(model: Any, cases: list[Any], budget: int, rounds: int) -> None:
    """Interleaved rounds of guard on / guard off on the same prompts; per-token time ratios."""
    per_round = []
    same = {"guard on": [0.0, 0], "guard off": [0.0, 0]}
    for r in range(rounds):
        acc = {"guard on": [0.0, 0], "guard off": [0.0, 0]}
        for index, (text, schema, _) in enumerate(cases):
            order = ("guard on", "guard off") if (index + r) % 2 == 0 else ("guard off", "guard on")
            outs = {}
            for route in order:
                # the prompt is evaluated (and cached) first, so the timed call is decoding only
                model.generate([_prompt(text, schema)], max_new_tokens=1)
                g, seconds = _generate(model, route, _prompt(text, schema), schema, budget)
                acc[route][0] += seconds
                acc[route][1] += g.generated_tokens
                outs[route] = (g.text, seconds, g.generated_tokens)
            if outs["guard on"][0] == outs["guard off"][0]:
                for route, (_, seconds, tokens) in outs.items():
                    same[route][0] += seconds
                    same[route][1] += tokens
        ratio = (acc["guard on"][0] / acc["guard on"][1]) / (acc["guard off"][0] / acc["guard off"][1])
        per_round.append(ratio)
        print(f"overhead round {r + 1}: guard on / off per token {ratio:.3f}x", flush=True)
    print(
        f"\nper-token overhead, guard on / guard off, {rounds} interleaved rounds x {len(cases)} prompts: "
        f"median {statistics.median(per_round):.3f}x (rounds: {', '.join(f'{x:.3f}' for x in per_round)})"
    )
    if same["guard on"][1]:
        ratio = (same["guard on"][0] / same["guard on"][1]) / (same["guard off"][0] / same["guard off"][1])
        print(
            f"per-token overhead on identical outputs only ({same['guard on'][1]:.0f} tokens per route): "
            f"{ratio:.3f}x"
        )
    else:
        print("no prompt gave identical outputs with the guard on and off (no pure-overhead pair)")


if __name__ == "__main__":
    main()
