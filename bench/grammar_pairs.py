"""Before/after summary of two ``bench_grammar.py --details`` files: coverage, passing, timeouts, paired time.

"Passing at grammar level": the chain compiled the schema (any route) and its grammar accepted every
valid instance as ``json.dumps`` writes it; "passing, keys in schema order": every valid instance written
the way a constrained model writes it (keys in schema order, UTF-8; see ``key_order.py``).
Paired time: per schema, formbound's time to first mask divided by raw llguidance's on the same schema
(both compiled), then p50 / p95 of those ratios.

Rerun: python bench/bench_grammar.py --routes llguidance,formbound --mutants 2 --details after.jsonl
       python bench/grammar_pairs.py before.jsonl after.jsonl
"""

from __future__ import annotations

import json
from typing import Any

from _common import percentile


def summary(path: str) -> dict[str, Any]:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    by = {(r["route"], r["schema"]): r for r in rows}
    ours = [r for r in rows if r["route"] == "formbound"]
    n = len(ours)
    compiled = [r for r in ours if "ms" in r]
    passing = [r for r in compiled if r["valid_rejected"] == 0]
    ordered = [r for r in compiled if r.get("valid_rejected_ordered") == 0]
    measured = all("valid_rejected_ordered" in r for r in compiled)
    ratios = []
    for r in compiled:
        raw = by.get(("llguidance", r["schema"]))
        if raw is not None and "ms" in raw and raw["ms"] > 0:
            ratios.append(r["ms"] / raw["ms"])
    return {
        "schemas": n,
        "with a constraint": len(compiled),
        "timeouts": sum(r["outcome"] == "timeout" for r in ours),
        "failed": sum(r["outcome"] == "failed" for r in ours),
        "passing": len(passing),
        "passing, keys in schema order": len(ordered) if measured else None,
        "paired p50": percentile(ratios, 50) if ratios else float("nan"),
        "paired p95": percentile(ratios, 95) if ratios else float("nan"),
        "pairs": len(ratios),
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Paired before/after figures of two bench_grammar --details files."
    )
    parser.add_argument("before", help="--details JSONL of the run before")
    parser.add_argument("after", help="--details JSONL of the run after")
    args = parser.parse_args()
    before, after = summary(args.before), summary(args.after)
    print("| measure | before | after |")
    print("|---|---|---|")
    for key in before:
        b, a = before[key], after[key]
        if key.startswith("passing"):
            b = "not measured" if b is None else f"{b} ({b / before['schemas']:.1%})"
            a = "not measured" if a is None else f"{a} ({a / after['schemas']:.1%})"
        elif isinstance(b, float):
            b, a = f"{b:.2f}×", f"{a:.2f}×"
        print(f"| {key} | {b} | {a} |")


if __name__ == "__main__":
    main()
