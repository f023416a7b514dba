"""llama.cpp threads: one thread (llama-cpp-python's default on a 2-core machine) vs every usable core.

Same GGUF (the embedded SmolLM2-135M-Instruct Q4_1), two ``Llama`` instances that differ only in
``n_threads``/``n_threads_batch``, rounds interleaved (the order alternates every round). Two figures
per round, each with the KV cache reset first:

* prefill: the ``prompted`` rung's first contacts prompt (format instructions + 3 few-shot examples,
  ≈ 840 tokens), one new token;
* decode: ``--tokens`` new tokens after a short chat prompt (greedy), per token.

The baseline is one thread, measured in the same run.

Run: ``python bench/bench_threads.py [--rounds 4] [--tokens 48]``
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

SHORT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm."},
]


def _run(model: Any, prompt: Any, n: int) -> tuple[float, int]:
    model.llama.reset()
    start = time.perf_counter()
    (gen,) = model.generate([prompt], max_new_tokens=n)
    return time.perf_counter() - start, gen.generated_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()

    import llama_cpp

    from formbound.measure import load_task_set
    from formbound.measure.strategies import choose_examples, parse_strategies, task_messages
    from formbound.models import load
    from formbound.models.default import find_gguf
    from formbound.models.llamacpp import default_threads

    started = time.perf_counter()
    ts = load_task_set("contacts")
    (strategy,) = parse_strategies("prompted")
    long_prompt = task_messages(strategy, ts, ts.split("test")[0], choose_examples(ts, strategy.shots, 0))
    cores = default_threads()
    models = {
        threads: load(
            llama_cpp.Llama(
                model_path=str(find_gguf()),
                n_ctx=2048,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        )
        for threads in sorted({1, cores})
    }
    prefill: dict[int, list[float]] = {t: [] for t in models}
    decode: dict[int, list[float]] = {t: [] for t in models}
    for round_ in range(args.rounds):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for threads in order:
            seconds, _ = _run(models[threads], long_prompt, 1)
            prefill[threads].append(seconds)
            seconds, count = _run(models[threads], SHORT, args.tokens)
            decode[threads].append(1000 * seconds / max(count, 1))
    rows = []
    base_p, base_d = statistics.median(prefill[1]), statistics.median(decode[1])
    for threads in models:
        p, d = statistics.median(prefill[threads]), statistics.median(decode[threads])
        rows.append(
            [
                threads,
                " / ".join(f"{v:.2f}" for v in prefill[threads]),
                f"{p:.2f}",
                f"{p / base_p:.2f}x",
                " / ".join(f"{v:.1f}" for v in decode[threads]),
                f"{d:.1f}",
                f"{d / base_d:.2f}x",
            ]
        )
    head = ["threads", "prefill s per round", "median", "vs 1", "decode ms/token per round", "median", "vs 1"]
    print(table(head, rows))
    print(f"\nwall {time.perf_counter() - started:.0f} s; usable cores {cores}; load {os.getloadavg()}")
    print(machine(["llama_cpp_python"]))
    print("rerun: python bench/bench_threads.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
