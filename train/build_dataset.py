"""Build a chat-format fine-tuning set for a task set's train split.

python train/build_dataset.py --tasks contacts --out runs/contacts/dataset/train.jsonl --augment 64
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", required=True, help="bundled task set name or folder, e.g. contacts")
    parser.add_argument("--out", required=True, help="the .jsonl file to write (its card goes beside it)")
    parser.add_argument("--augment", type=int, default=64, help="template-substituted train inputs to add")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model", default=None, help="model whose tokenizer measures token lengths (optional)"
    )
    args = parser.parse_args(argv)

    from formbound.escalate import build_dataset
    from formbound.measure import load_task_set

    tokenizer = None
    if args.model:
        from formbound.escalate.adapter import load_base

        tokenizer = load_base(args.model)[1]
    card = build_dataset(
        load_task_set(args.tasks), args.out, augment=args.augment, seed=args.seed, tokenizer=tokenizer
    )
    print(json.dumps(card.to_dict(), indent=2))


if __name__ == "__main__":
    main()
