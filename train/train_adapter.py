"""Train a LoRA adapter on a dataset built by train/build_dataset.py. Runs as is under ``accelerate launch``:

    python train/train_adapter.py --model default --data runs/contacts/dataset/train.jsonl \
        --out runs/contacts/adapter
    accelerate launch --multi_gpu --num_processes 2 train/train_adapter.py --model default \
        --data ... --out ...

(without a GPU the processes form a gloo group on CPU; with GPUs, DDP).

Checkpoints go to ``OUT.partial/`` every ``--save-every`` steps; run the same command again after a crash
to resume from the newest one.
"""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> None:
    from formbound.escalate import TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="default", help="'default', a model id or a local transformers folder"
    )
    parser.add_argument("--data", required=True, help="dataset .jsonl (chat messages)")
    parser.add_argument("--out", required=True, help="adapter folder to create")
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--rank", type=int, default=defaults.r)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    args = parser.parse_args(argv)

    from formbound.escalate import train_adapter
    from formbound.escalate.adapter import load_base
    from formbound.escalate.ladder import ADAPTER_PROMPT

    config = TrainConfig(
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        r=args.rank,
        lora_alpha=2 * args.rank,
        seed=args.seed,
        save_every=args.save_every,
    )
    model, tokenizer = load_base(args.model)
    result = train_adapter(
        model,
        tokenizer,
        args.data,
        args.out,
        config,
        base_model=args.model,
        resume=not args.no_resume,
        extra_metadata={"prompt": dict(ADAPTER_PROMPT)},
    )
    metrics = result.metadata["metrics"]
    summary = {k: metrics[k] for k in ("steps", "first_loss", "final_loss", "train_seconds", "processes")}
    print(json.dumps({"adapter": result.path, **summary}))


if __name__ == "__main__":
    main()
