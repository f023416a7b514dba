"""Batch size on the transformers route: tokens/s at batch 1, 2, 4, 8 on the same prompts, in one run.

The measurement runner's workload: the ``prompted`` rung's prompts of the bundled ``contacts`` task set
(format instructions + 3 few-shot examples, ≈ 840 tokens, ≈ 800 of them shared), greedy, unconstrained
and constrained (the contacts spec through the default backend chain). Every route generates for the same
``--items`` prompts, ``batch`` prompts per ``TransformersModel.generate`` call, with what ships: rows
leave the batch as they end, a batch prefills its shared prefix once, and every call reuses the prefix
kept from the call before (as the runner's items do). The baseline is batch 1 of the same mode; the ratio
is tokens/s against it. Routes alternate round by round (the machine is shared); medians are reported.

``--old`` adds transformers' own ``model.generate`` on a left-padded batch of the largest size (what
formbound ran before: no dropping, no shared prefix), for the same prompts.

Rerun: OMP_NUM_THREADS=1 nice python bench/bench_batch.py [--items 8] [--batches 1,2,4,8]
       [--max-new-tokens 160] [--rounds 3] [--old]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from _common import machine, table


def _rung_prompts(rung: str, items: int) -> tuple[Any, list[Any]]:
    """The contacts spec and what the runner's ``rung`` sends for the first ``items`` test tasks."""
    from formbound.measure import load_task_set
    from formbound.measure.strategies import choose_examples, parse_strategies, task_messages

    ts = load_task_set("contacts")
    (strategy,) = parse_strategies(rung)
    examples = choose_examples(ts, strategy.shots, 0)
    return ts.spec, [task_messages(strategy, ts, task, examples) for task in ts.split("test")[:items]]


def _run(model: Any, prompts: list[Any], batch: int, constraint: Any, limit: int) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    gens: list[Any] = []
    for i in range(0, len(prompts), batch):
        gens += model.generate(prompts[i : i + batch], constraint=constraint, max_new_tokens=limit)
    return time.perf_counter() - start, gens


def _old(model: Any, prompts: list[Any], batch: int, constraint: Any, limit: int) -> tuple[float, list[int]]:
    """transformers' ``generate`` on left-padded batches: every row runs until the longest stops."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    eos = model._eos_ids()
    pad = model.tokenizer.pad_token_id
    config = GenerationConfig(
        max_new_tokens=limit, do_sample=False, num_beams=1, repetition_penalty=1.0, temperature=1.0,
        top_p=1.0, eos_token_id=eos, pad_token_id=pad,
    )  # fmt: skip
    start = time.perf_counter()
    tokens: list[int] = []
    for i in range(0, len(prompts), batch):
        encoded = [model._encode(p) for p in prompts[i : i + batch]]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, width - len(e) :] = torch.tensor(e)
            mask[row, width - len(e) :] = 1
        extra: dict[str, Any] = {}
        if constraint is not None:
            compiled = model.compiler.compile(constraint, limit)
            extra["logits_processor"] = LogitsProcessorList([compiled.processor(eos, limit, greedy=True)])
        with torch.inference_mode():
            out = model.model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **extra)
        for row in out[:, width:].tolist():
            ends = [pos for pos, t in enumerate(row) if t in eos]
            tokens.append(ends[0] + 1 if ends else len(row))
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="the contacts task set's limit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="unconstrained,constrained")
    parser.add_argument("--old", action="store_true", help="add transformers' generate at the largest batch")
    args = parser.parse_args()

    import torch

    from formbound.models import load

    spec, prompted = _rung_prompts("prompted", args.items)
    _, constrained = _rung_prompts("constrained", args.items)
    constraint = spec.constraint()
    model = load("default")
    batches = [int(b) for b in args.batches.split(",")]
    big = max(batches)
    # mode -> (the runner's rung for it, its prompts, constraint)
    all_modes = {
        "unconstrained": ("prompted", prompted, None),
        "constrained": ("constrained", constrained, constraint),
    }
    modes = {m: all_modes[m] for m in args.modes.split(",")}
    limit = args.max_new_tokens
    routes: dict[tuple[str, str], Any] = {}
    for mode, (_rung, prompts, con) in modes.items():
        for b in batches:
            routes[(mode, f"batch {b}")] = lambda b=b, p=prompts, c=con: _run(model, p, b, c, limit)
        if args.old:
            routes[(mode, f"batch {big}, transformers generate")] = lambda p=prompts, c=con: _old(
                model, p, big, c, limit
            )
    lengths = {m: [len(model._encode(p)) for p in modes[m][1]] for m in modes}
    # warm-up: compile the grammar, first-call allocations
    model.generate(constrained[:2], constraint=constraint, max_new_tokens=2)
    model.generate(prompted[:1], max_new_tokens=2)
    seconds: dict[tuple[str, str], list[float]] = {k: [] for k in routes}
    tokens: dict[tuple[str, str], list[int]] = {}
    texts: dict[tuple[str, str], list[str]] = {}
    wall = time.perf_counter()
    load_before = os.getloadavg()
    for r in range(args.rounds):
        order = list(routes) if r % 2 == 0 else list(reversed(routes))
        for key in order:
            s, out = routes[key]()
            seconds[key].append(s)
            print(f"round {r + 1}: {key[0]}, {key[1]}: {s:.1f} s", file=sys.stderr, flush=True)
            if out and isinstance(out[0], int):
                tokens[key] = out
            else:
                tokens[key] = [g.generated_tokens for g in out]
                texts[key] = [g.text for g in out]
    load_after = os.getloadavg()
    rows = []
    for key in routes:
        mode, name = key
        base = (mode, f"batch {batches[0]}")
        med = statistics.median(seconds[key])
        tps = sum(tokens[key]) / med
        base_tps = sum(tokens[base]) / statistics.median(seconds[base])
        same = "—" if key not in texts else ("yes" if texts[key] == texts[base] else "NO")
        per_round = " / ".join(f"{s:.1f}" for s in seconds[key])
        ratio = f"{tps / base_tps:.2f}x"
        rows.append([mode, name, per_round, f"{med:.1f}", sum(tokens[key]), f"{tps:.2f}", ratio, same])
    print(f"# batch size — {machine(['torch', 'transformers', 'llguidance'])}")
    print(
        f"default model (SmolLM2-135M-Instruct, float32, CPU, {torch.get_num_threads()} torch threads), "
        f"greedy, {args.items} contacts test items; prompts as the runner's rung sends them ("
        + "; ".join(f"{m}: `{modes[m][0]}`, {min(v)}–{max(v)} tokens" for m, v in lengths.items())
        + "), "
        f"{limit} new tokens at most, median of {args.rounds} rounds (order reversed every other round); "
        f"constrained route: {model.compiler.compile(constraint).route}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; wall {time.perf_counter() - wall:.0f} s\n"
    )
    header = ["mode", "route", "s per round", "median s", "tokens", "tokens/s", "vs batch 1", "same text"]
    print(table(header, rows))
    print("\ntokens per row:")
    for key in routes:
        print(f"  {key[0]}, {key[1]}: {' '.join(map(str, tokens[key]))}")
    print(
        f"\nrerun: OMP_NUM_THREADS=1 nice python bench/bench_batch.py --items {args.items} "
        f"--batches {args.batches} --max-new-tokens {limit} --rounds {args.rounds} --modes {args.modes}"
        + (" --old" if args.old else "")
    )


if __name__ == "__main__":
    main()
