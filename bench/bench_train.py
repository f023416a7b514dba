"""LoRA training on the default model: formbound's ``train_adapter`` vs a plain peft + torch loop.

Both sides train the same LoRA (``TrainConfig().lora_config``) on the same encoded examples (contacts
task set, chat format, answer-only loss) with the same batches (``_step_indices``), AdamW, the same
number of steps, on CPU in float32. Each run is a fresh child process (so ``ru_maxrss`` is that run's
own peak); runs alternate formbound / plain ``--repeats`` times and the median is reported.
tokens/s counts every token of every batch (prompt + answer) over the optimizer loop's wall time
(model loading excluded); peak RSS is the child's ``ru_maxrss``, after-load RSS is sampled before training.

Rerun: python bench/bench_train.py [--steps 8] [--repeats 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import ROOT, machine, table

SET = Path(ROOT) / "src" / "formbound" / "tasksets" / "contacts"


def write_dataset(folder: Path) -> Path:
    rows = [
        json.loads(line) for line in (SET / "tasks.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]
    path = folder / "train.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            messages = [
                {"role": "user", "content": "Extract the person's contact card as JSON.\n\n" + row["input"]},
                {"role": "assistant", "content": json.dumps(row["gold"])},
            ]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, dataset: str, out: str, steps: int, batch: int, conn: Connection) -> None:
    import torch

    from formbound.escalate.adapter import TrainConfig, _collate, _step_indices, encode_example, load_base
    from formbound.escalate.dataset import load_records

    torch.manual_seed(0)
    model, tok = load_base("default")
    config = TrainConfig(
        max_steps=steps, batch_size=batch, save_every=0, mixed_precision="no", max_length=512
    )
    examples = [encode_example(tok, r["messages"], config.max_length) for r in load_records(dataset)]
    all_tokens = sum(
        max(len(examples[i][0]) for i in _step_indices(s, len(examples), batch, config.seed)) * batch
        for s in range(steps)
    )  # padded batch width x rows: what the forward pass processes on both sides
    loaded = _rss_mib()
    if kind == "formbound":
        from formbound.escalate.adapter import train_adapter

        result = train_adapter(model, tok, dataset, out, config, resume=False)
        seconds = result.metadata["metrics"]["train_seconds"]
        final = result.losses[-1]
    else:
        import peft

        model.config.use_cache = False
        pm = peft.get_peft_model(model, config.lora_config(model))
        opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=config.learning_rate)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        pm.train()
        start = time.perf_counter()
        for s in range(steps):
            idx = _step_indices(s, len(examples), batch, config.seed)
            loss = pm(**_collate([examples[i] for i in idx], pad)).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            final = float(loss.detach())
        seconds = time.perf_counter() - start
    conn.send(
        {
            "seconds": seconds,
            "tokens": all_tokens,
            "rss_loaded": loaded,
            "rss_peak": _rss_mib(),
            "loss": final,
        }
    )


def run_child(kind: str, dataset: Path, out: Path, steps: int, batch: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(kind, str(dataset), str(out), steps, batch, child))
    proc.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="LoRA training benchmark")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = 3, 1
    results: dict[str, list[dict[str, Any]]] = {"formbound": [], "plain peft+torch": []}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_dataset(Path(tmp))
        for r in range(args.repeats):
            for kind in results:
                out = Path(tmp) / f"adapter-{r}"
                results[kind].append(run_child(kind, dataset, out, args.steps, args.batch_size))
    rows = []
    base_tps = statistics.median(x["tokens"] / x["seconds"] for x in results["plain peft+torch"])
    for kind, runs in results.items():
        tps = statistics.median(x["tokens"] / x["seconds"] for x in runs)
        loaded = statistics.median(x["rss_loaded"] for x in runs)
        peak = statistics.median(x["rss_peak"] for x in runs)
        rows.append(
            [
                kind,
                f"{tps:.0f}",
                f"{tps / base_tps:.2f}x",
                f"{loaded:.0f}",
                f"{peak:.0f}",
                f"{runs[-1]['loss']:.3f}",
            ]
        )
    print(f"# LoRA training — {machine(['torch', 'transformers', 'peft', 'accelerate'])}")
    print(
        f"default model (SmolLM2-135M-Instruct), CPU float32, LoRA r=16 all-linear, {args.steps} steps of "
        f"{args.batch_size} contacts examples, median of {args.repeats} runs each (alternating)\n"
    )
    print(table(["loop", "tokens/s", "vs plain", "RSS after load MiB", "peak RSS MiB", "last loss"], rows))
    print("\nrerun: python bench/bench_train.py" + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
