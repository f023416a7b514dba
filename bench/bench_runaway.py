"""Runaways under a small token budget: the budget guard (forced completion + budget bounds) on and off.

Twelve short extraction prompts of our own (orders with repeated line items, people with e-mail
addresses, events), written so that the default model tends to repeat array elements or loop inside a
string. Each prompt is generated greedily with ``--max-new-tokens`` (default 64) twice in the same
process, alternating the order per prompt:

* ``guard on``: formbound's constrained route as shipped (arrays bounded for the budget bucket, the
  shortest completion forced near the limit);
* ``guard off``: the same grammar without budget bounds and without the guard (the route before).

Reported per route: answers cut at the limit (truncated), forced closes, schema-valid answers, field
accuracy (share of gold leaves matched over all items; an invalid answer matches nothing), and seconds
per generated token (the overhead ratio is on vs off).

Rerun: nice python bench/bench_runaway.py [--max-new-tokens 64] [--limit 12]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jsonschema

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--limit", type=int, default=len(CASES))
    args = parser.parse_args()

    import formbound
    import formbound.models.constrained as constrained
    from formbound.constraints import Constraint

    model = formbound.models.load("default")
    bucket = constrained.budget_bucket
    stats = {r: {"n": 0, "trunc": 0, "forced": 0, "valid": 0, "ok": 0, "total": 0, "s": 0.0, "tok": 0}
             for r in ("guard on", "guard off")}  # fmt: skip
    rows = []
    for index, (text, schema, gold) in enumerate(CASES[: args.limit]):
        prompt = [
            {"role": "system", "content": "Answer with JSON only. Schema: " + json.dumps(schema)},
            {"role": "user", "content": text},
        ]
        order = ("guard on", "guard off") if index % 2 == 0 else ("guard off", "guard on")
        for route in order:
            c = Constraint("json_schema", schema)
            if route == "guard off":
                constrained.budget_bucket = lambda n: None  # type: ignore[assignment]
                compiled = model.compiler.compile(c, args.max_new_tokens)
                closer, compiled.closer = compiled.closer, None
            start = time.perf_counter()
            try:
                (g,) = model.generate([prompt], constraint=c, max_new_tokens=args.max_new_tokens)
            finally:
                if route == "guard off":
                    compiled.closer = closer
                    constrained.budget_bucket = bucket
            seconds = time.perf_counter() - start
            s = stats[route]
            s["n"] += 1
            s["trunc"] += g.finish_reason == "length"
            s["forced"] += bool(g.extra.get("forced_close"))
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
            rows.append((index, route, g.finish_reason, g.extra.get("forced_close"), g.text))
            print(rows[-1], f"{seconds:.1f} s", flush=True)
    print(
        f"\n# runaway benchmark: default model, greedy, {args.max_new_tokens} new tokens, "
        f"{args.limit} prompts\n"
    )
    print("| route | truncated | forced close | schema-valid | field accuracy | ms / token |")
    print("|---|---|---|---|---|---|")
    for route, s in stats.items():
        print(
            f"| {route} | {s['trunc']}/{s['n']} | {s['forced']}/{s['n']} | {s['valid']}/{s['n']} | "
            f"{s['ok'] / max(1, s['total']):.1%} | {1000 * s['s'] / max(1, s['tok']):.1f} |"
        )
    on, off = stats["guard on"], stats["guard off"]
    ratio = (on["s"] / max(1, on["tok"])) / (off["s"] / max(1, off["tok"]))
    print(f"\nper-token time, guard on / off: {ratio:.3f}x")
    print(
        "rerun: nice python bench/bench_runaway.py "
        f"--max-new-tokens {args.max_new_tokens} --limit {args.limit}"
    )


if __name__ == "__main__":
    main()
