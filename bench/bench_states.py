"""llama.cpp with earlier sequences' KV states kept (``state_bytes``) vs only the live KV cache.

The main job's cheap rungs in its order (``prompted``, ``reask``, ``constrained``; ``reask`` re-asks an
answer ``prompted`` gave several items earlier, ``constrained`` sends ``prompted``'s prompts again) on
``--items`` contacts test items, through ``formbound.measure.evaluate`` on the embedded GGUF. Two models
that differ only in ``state_bytes`` (0 = the baseline, measured in the same run), rounds interleaved
(the order alternates every round), each on a freshly loaded ``Llama``. Besides wall time it reads
llama.cpp's own counters (``llama_perf_context``): prompt tokens evaluated and the seconds spent on them,
single-token decodes and theirs. Wall time alone is noisy on a shared machine, and it moves with the
answers too, so it also reports how many outputs differ: llama.cpp's numerics depend on how a sequence
was split into batches, so a restored state can move a near-tie of the greedy choice, as evaluating
the same prompt after another one already can.

Run: ``python bench/bench_states.py [--items 8] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from _common import machine, table

RUNGS = ["prompted", "reask", "constrained"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp

    from formbound.measure import evaluate, load_task_set
    from formbound.models import load
    from formbound.models.llamacpp_states import DEFAULT_STATE_BYTES

    started = time.perf_counter()
    task_set = load_task_set("contacts")
    settings = {"live KV cache only": 0, "states kept": DEFAULT_STATE_BYTES}
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    perf: dict[str, list[tuple[int, float, int, float]]] = {name: [] for name in settings}
    reused: dict[str, int] = {}
    texts: dict[str, list[tuple[str, ...]]] = {}
    for round_ in range(args.rounds):
        order = list(settings) if round_ % 2 == 0 else list(reversed(settings))
        for name in order:
            model = load("llamacpp:default", state_bytes=settings[name])
            t = time.perf_counter()
            report = evaluate(model, task_set, RUNGS, split="test", limit=args.items, seed=0, out_dir=None)
            seconds[name].append(time.perf_counter() - t)
            data = llama_cpp.llama_perf_context(model.llama._ctx.ctx)  # type: ignore[attr-defined]
            perf[name].append((data.n_p_eval, data.t_p_eval_ms / 1000, data.n_eval, data.t_eval_ms / 1000))
            reused[name] = model.states.reused_tokens  # type: ignore[attr-defined]
            texts[name] = [tuple(r.texts) for s in report.strategies for r in report.records_for(s)]
            del model
    base = statistics.median(seconds["live KV cache only"])
    base_p = statistics.median(p[1] for p in perf["live KV cache only"])
    rows = []
    for name in settings:
        m = statistics.median(seconds[name])
        per_round = " / ".join(f"{v:.1f}" for v in seconds[name])
        n_p, t_p, n_d, t_d = (statistics.median(p[i] for p in perf[name]) for i in range(4))
        rows.append(
            [
                name,
                per_round,
                f"{m:.1f}",
                f"{m / base:.2f}x",
                f"{n_p:.0f}",
                f"{t_p:.1f}",
                f"{t_p / base_p:.2f}x",
                f"{n_d:.0f}",
                f"{t_d:.1f}",
                reused[name],
            ]
        )
    head = [
        "llama.cpp",
        "wall s per round",
        "median",
        "vs live only",
        "prompt tokens evaluated",
        "their s",
        "vs live only",
        "decoded tokens",
        "their s",
        "tokens restored",
    ]
    print(table(head, rows))
    a, b = texts["live KV cache only"], texts["states kept"]
    differ = sum(x != y for x, y in zip(a, b, strict=True))
    print(f"\n{len(RUNGS)} rungs x {args.items} items: {differ} of {len(a)} records differ in text")
    print(f"wall {time.perf_counter() - started:.0f} s; load {os.getloadavg()}")
    print(machine(["llama_cpp_python"]))
    print("rerun: python bench/bench_states.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
