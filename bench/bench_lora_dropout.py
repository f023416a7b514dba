"""LoRA training step time with and without LoRA dropout (the ladder's CPU default dropped it).

The default model (SmolLM2-135M, float32, torch's default threads), r=16 all-linear LoRA, the loss the
ladder trains with (answer positions only), AdamW: steps of ``--batch`` examples drawn (seeded) from a
chat JSONL dataset, the same batches for both settings. Each round builds a fresh LoRA with dropout 0.05
(TrainConfig's default, the baseline measured in the same run) and one with 0, takes a warm-up step and
then times ``--steps`` steps; the order alternates every round.

The dataset defaults to the one the main job builds (``runs/contacts/dataset/train.jsonl``: run
``bash scripts/run.sh`` first), or give ``--dataset``.

Run: ``python bench/bench_lora_dropout.py [--rounds 3] [--steps 3] [--batch 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from _common import machine, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dataset", default="runs/contacts/dataset/train.jsonl")
    args = parser.parse_args()

    import peft
    import torch

    from formbound import models
    from formbound.escalate.answer_loss import answer_only_loss
    from formbound.escalate.train_config import TrainConfig
    from formbound.escalate.training import collate, encode_example

    started = time.perf_counter()
    model = models.load("default")
    hf, tok = model.model, model.tokenizer  # type: ignore[attr-defined]
    hf.config.use_cache = False
    with open(args.dataset, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    encoded = [encode_example(tok, r["messages"], 512) for r in records]
    rng = random.Random(0)
    drawn = [rng.sample(encoded, args.batch) for _ in range(args.steps + 1)]
    batches = [collate([{"input_ids": i, "labels": lab} for i, lab in d], tok.eos_token_id) for d in drawn]
    seconds: dict[float, list[float]] = {0.05: [], 0.0: []}
    for round_ in range(args.rounds):
        order = [0.05, 0.0] if round_ % 2 == 0 else [0.0, 0.05]
        for dropout in order:
            config = TrainConfig(lora_dropout=dropout)
            torch.manual_seed(0)
            wrapped = peft.get_peft_model(hf, config.lora_config(hf))
            wrapped.train()
            optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3)
            for k, batch in enumerate(batches):
                if k == 1:  # batch 0 warms up
                    t = time.perf_counter()
                loss = answer_only_loss(wrapped, batch)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            seconds[dropout].append((time.perf_counter() - t) / args.steps)
            wrapped.unload()
    base = statistics.median(seconds[0.05])
    rows = []
    for dropout, values in seconds.items():
        m = statistics.median(values)
        rows.append([dropout, " / ".join(f"{v:.2f}" for v in values), f"{m:.2f}", f"{m / base:.2f}x"])
    print(table(["lora_dropout", "s per step, per round", "median", "vs 0.05"], rows))
    tokens = statistics.mean(int(b["input_ids"].numel()) for b in batches)
    print(f"\nbatches of {args.batch}, {tokens:.0f} padded tokens on average; {len(records)} records")
    wall = time.perf_counter() - started
    print(f"wall {wall:.0f} s; torch threads {torch.get_num_threads()}; load {os.getloadavg()}")
    print(machine(["torch", "peft", "transformers"]))
    print("rerun: python bench/bench_lora_dropout.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
