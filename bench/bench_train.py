"""LoRA training on the default model: formbound's ``train_adapter`` vs plain peft + Trainer and peft + torch.

Three ways to train the same LoRA (``TrainConfig().lora_config(model)``, r=16 all-linear) on the same
encoded examples (contacts task set, chat format, answer-only loss via formbound's public
``encode_example``/``collate``), the same number of steps, AdamW, on CPU in float32:
  * ``formbound``: ``train_adapter`` (transformers.Trainer underneath, plus checkpoint fingerprinting,
    metadata and the atomic adapter folder);
  * ``plain peft+Trainer``: ``peft.get_peft_model`` + ``transformers.Trainer`` with the same learning rate,
    batch size and steps, then ``save_pretrained`` — what a user would write with the same libraries;
  * ``plain peft+torch``: ``get_peft_model`` + a bare AdamW loop, then ``save_pretrained`` (the baseline of
    the ratios).
The dataset holds exactly ``--batch-size`` examples, so every step's batch is the whole dataset on every
side, whatever order a sampler draws (the padded batch shape, hence the work per step, is identical).
Each run is a fresh child process (so ``ru_maxrss`` is that run's own peak); runs alternate the three
``--repeats`` times and the median is reported. ``loop tokens/s`` counts every token of every batch
(prompt + answer + padding: what the forward pass processes) over the optimizer loop's wall time; ``call s``
is the whole call from the loaded model to the saved adapter (LoRA injection, trainer setup, loop, save).
Model loading is excluded from both. Peak RSS is the child's ``ru_maxrss``; after-load RSS is sampled
before training.

The model is the converted default model (``formbound.models.default.ensure_converted()``) loaded with
``load_base(folder)``. When that folder's ``config.json`` still carries the GGUF ``quantization_config``
of the checkpoint it was converted from (its weights are plain float32), transformers' Trainer refuses to
train it; the benchmark then trains on a copy of the folder without that key and says so in its output.

Rerun: python bench/bench_train.py [--steps 8] [--batch-size 4] [--repeats 2] [--quick]
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
KINDS = ("formbound", "plain peft+Trainer", "plain peft+torch")
BASELINE = "plain peft+torch"


def write_dataset(folder: Path, rows: int) -> Path:
    """The first ``rows`` contacts tasks as a chat JSONL dataset (what ``build_dataset`` writes)."""
    lines = [line for line in (SET / "tasks.jsonl").read_text(encoding="utf-8").splitlines() if line]
    if rows > len(lines):
        raise SystemExit(f"--batch-size {rows} exceeds the {len(lines)} contacts tasks")
    path = folder / "train.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for line in lines[:rows]:
            row = json.loads(line)
            messages = [
                {"role": "user", "content": "Extract the person's contact card as JSON.\n\n" + row["input"]},
                {"role": "assistant", "content": json.dumps(row["gold"])},
            ]
            fh.write(json.dumps({"messages": messages}) + "\n")
    return path


def trainable_default(folder: Path) -> tuple[Path, bool]:
    """The converted default model's folder, or a copy of it under ``folder`` whose config.json lacks a
    leftover GGUF ``quantization_config`` (True when the copy was needed)."""
    from formbound.models.default import ensure_converted

    source = ensure_converted()
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if "quantization_config" not in config:
        return source, False
    del config["quantization_config"]
    copy = folder / "default-model"
    copy.mkdir()
    for item in source.iterdir():
        if item.name != "config.json":
            (copy / item.name).symlink_to(item.resolve())
    (copy / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return copy, True


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, base: str, dataset: str, out: str, steps: int, batch: int, conn: Connection) -> None:
    import os

    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU float32 on every side, also on a GPU machine
    import peft
    import torch
    import transformers

    from formbound.escalate.adapter import TrainConfig, collate, encode_example, load_base, train_adapter
    from formbound.escalate.dataset import load_records

    torch.manual_seed(0)
    model, tok = load_base(base)
    config = TrainConfig(
        max_steps=steps, batch_size=batch, save_every=0, mixed_precision="no", max_length=512
    )
    encoded = [encode_example(tok, r["messages"], config.max_length) for r in load_records(dataset)]
    examples = [{"input_ids": ids, "labels": labels} for ids, labels in encoded]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    # every step's batch is the whole dataset: padded width x rows is the work of one forward pass
    all_tokens = max(len(ex["input_ids"]) for ex in examples) * len(examples) * steps
    loaded = _rss_mib()
    losses: list[float] = []
    call_start = time.perf_counter()
    if kind == "formbound":
        result = train_adapter(model, tok, dataset, out, config, resume=False)
        seconds = float(result.metadata["metrics"]["train_seconds"])
        losses = result.losses
    else:
        transformers.set_seed(config.seed)  # the LoRA initialisation, as train_adapter seeds it
        model.config.use_cache = False
        pm = peft.get_peft_model(model, config.lora_config(model))
        if kind == "plain peft+Trainer":
            args = transformers.TrainingArguments(
                output_dir=out + ".trainer",
                max_steps=steps,
                per_device_train_batch_size=batch,
                learning_rate=config.learning_rate,
                optim="adamw_torch",
                seed=config.seed,
                use_cpu=True,
                logging_steps=1,
                save_strategy="no",
                report_to="none",
                disable_tqdm=True,
                remove_unused_columns=False,
            )
            trainer = transformers.Trainer(
                model=pm, args=args, train_dataset=examples, data_collator=lambda b: collate(b, pad)
            )
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
            losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
        else:
            opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=config.learning_rate)
            pm.train()
            start = time.perf_counter()
            for _ in range(steps):
                loss = pm(**collate(examples, pad)).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
            seconds = time.perf_counter() - start
        pm.save_pretrained(out)
    call_seconds = time.perf_counter() - call_start
    if not (Path(out) / "adapter_config.json").is_file():
        raise SystemExit(f"{kind}: no adapter was written to {out}")
    conn.send(
        {
            "seconds": seconds,
            "call_seconds": call_seconds,
            "tokens": all_tokens,
            "rss_loaded": loaded,
            "rss_peak": _rss_mib(),
            "loss": losses[-1] if losses else float("nan"),
        }
    )


def run_child(kind: str, base: Path, dataset: Path, out: Path, steps: int, batch: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(kind, str(base), str(dataset), str(out), steps, batch, child))
    proc.start()
    child.close()
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        proc.join()
        raise SystemExit(f"the {kind!r} run failed (exit code {proc.exitcode}); see its traceback") from None
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="LoRA training benchmark: train_adapter vs plain peft loops")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4, help="examples per step (= dataset size)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = 3, 1
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_dataset(Path(tmp), args.batch_size)
        base, copied = trainable_default(Path(tmp))
        for r in range(args.repeats):
            for i, kind in enumerate(KINDS):
                out = Path(tmp) / f"adapter-{r}-{i}"
                results[kind].append(run_child(kind, base, dataset, out, args.steps, args.batch_size))
    wall = time.perf_counter() - wall

    def tps(run: dict[str, Any]) -> float:
        return float(run["tokens"]) / float(run["seconds"])

    base_tps = statistics.median(tps(x) for x in results[BASELINE])
    base_call = statistics.median(x["call_seconds"] for x in results[BASELINE])
    rows = []
    for kind, runs in results.items():
        speed = statistics.median(tps(x) for x in runs)
        call = statistics.median(x["call_seconds"] for x in runs)
        rows.append(
            [
                kind,
                f"{speed:.0f}",
                f"{speed / base_tps:.2f}x",
                f"{call:.1f}",
                f"{call / base_call:.2f}x",
                f"{statistics.median(x['rss_loaded'] for x in runs):.0f}",
                f"{statistics.median(x['rss_peak'] for x in runs):.0f}",
                f"{runs[-1]['loss']:.3f}",
            ]
        )
    print(f"# LoRA training — {machine(['torch', 'transformers', 'peft', 'accelerate'])}")
    print(
        f"default model (SmolLM2-135M-Instruct), CPU float32, LoRA r=16 all-linear, {args.steps} steps of "
        f"the same {args.batch_size} contacts examples, median of {args.repeats} run(s) each (alternating); "
        f"wall {wall:.0f} s\n"
    )
    header = ["loop", "loop tokens/s", "vs plain torch", "call s", "vs plain torch", "RSS after load MiB",
              "peak RSS MiB", "last loss"]  # fmt: skip
    print(table(header, rows))
    if copied:
        print(
            "\nnote: the converted default model's config.json carries the GGUF quantization_config of its "
            "source checkpoint, which makes transformers' Trainer refuse to train it; all three loops "
            "trained on a copy without that key (the weights are the same float32 tensors)."
        )
    options = f"--steps {args.steps} --batch-size {args.batch_size} --repeats {args.repeats}"
    print("\nrerun: python bench/bench_train.py " + ("--quick" if args.quick else options))


if __name__ == "__main__":
    main()
