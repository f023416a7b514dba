"""Re-measure an adapter with the evaluation harness and run the regression check.

    python train/evaluate_adapter.py --model default --tasks contacts \
        --adapter runs/contacts/adapter --out runs/contacts/adapter_eval
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--tasks", required=True, help="task set folder")
    parser.add_argument("--adapter", required=True, help="adapter folder")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline", default="prompted,constrained", help="base-model rungs measured alongside"
    )
    args = parser.parse_args(argv)

    from formbound.escalate import regression_check
    from formbound.measure import evaluate, markdown
    from formbound.models import load

    model = load(args.model)
    names = [s for s in args.baseline.split(",") if s] + [
        f"adapter:{args.adapter}",
        f"adapter:{args.adapter}+constrained",
    ]
    report = evaluate(
        model, args.tasks, names, split="test", limit=args.limit, seed=args.seed, out_dir=args.out
    )
    print(markdown(report))
    regression = regression_check(model, args.adapter)
    print(regression.markdown())
    print(json.dumps({"regression_passed": regression.passed, "flags": regression.flags}))


if __name__ == "__main__":
    main()
