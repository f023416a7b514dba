"""llama.cpp route vs raw llama-cpp-python vs the transformers route; prefill with and without prefix reuse.

Same GGUF (the embedded SmolLM2-135M-Instruct Q4_1), same chat prompt, greedy, one thread, routes
interleaved round by round. Per-token times include the prompt's prefill (the KV cache is reset before
every llama.cpp run, and the transformers route runs with prefix reuse off, so every run reads its prompt).

* decode: raw ``Llama.generate`` vs formbound's ``LlamaCppModel.generate`` (unconstrained, and under an
  llguidance mask: a regex that never completes, so both routes generate exactly ``--tokens`` tokens)
  vs formbound's ``TransformersModel.generate`` on the converted HF folder of the same GGUF;
* prefill: the ``prompted`` rung's prompts of the bundled ``contacts`` task set (format instructions + 3
  few-shot examples, ≈ 840 tokens), one new token each, items one after the other, with and without prefix
  reuse (transformers) and with and without llama.cpp's KV-cache reuse.

Run: ``OMP_NUM_THREADS=1 nice -n 10 python bench/bench_llamacpp.py [--rounds 3] [--tokens 64] [--items 3]``
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

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm."},
]
NEVER_ENDS = r"[a-zA-Z ,.]{2000}"  # a mask on every step, and no early stop under it


def _raw(llm: Any, tokens: list[int], n: int) -> tuple[float, int]:
    llm.reset()
    start = time.perf_counter()
    count = 0
    for _ in llm.generate(tokens, temp=0.0, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
        count += 1
        if count >= n:
            break
    return time.perf_counter() - start, count


def _fb(model: Any, n: int, constraint: Any = None) -> tuple[float, int]:
    if hasattr(model, "llama"):
        model.llama.reset()
    start = time.perf_counter()
    (gen,) = model.generate([PROMPT], constraint=constraint, max_new_tokens=n)
    return time.perf_counter() - start, gen.generated_tokens


def _prompted(items: int) -> list[list[dict[str, str]]]:
    from formbound.measure import load_task_set
    from formbound.measure.strategies import choose_examples, parse_strategies, task_messages

    ts = load_task_set("contacts")
    (strategy,) = parse_strategies("prompted")
    examples = choose_examples(ts, strategy.shots, 0)
    return [task_messages(strategy, ts, task, examples) for task in ts.split("test")[:items]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--skip-transformers", action="store_true", help="llama.cpp routes only")
    parser.add_argument("--skip-prefill", action="store_true", help="decode ratios only")
    args = parser.parse_args()
    import llama_cpp
    import torch

    from formbound.constraints import Constraint
    from formbound.models import load
    from formbound.models.default import find_gguf

    torch.set_num_threads(1)
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(find_gguf()), n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False
    )
    fb = load(llm)
    tokens = fb.encode(PROMPT)  # type: ignore[attr-defined]
    hf = None if args.skip_transformers else load("default", device="cpu", prefix_reuse=False)
    mask = Constraint("regex", NEVER_ENDS)
    t0 = time.perf_counter()
    fb.generate([PROMPT], constraint=mask, max_new_tokens=2)  # compile (and the GGUF vocabulary) once
    compile_s = time.perf_counter() - t0
    routes: dict[str, list[float]] = {"raw": [], "fb": [], "fb+mask": [], "transformers": []}
    counts: dict[str, int] = {}
    names = list(routes)
    for round_ in range(args.rounds):
        # the order rotates every round: on a shared machine the route right after the transformers
        # route (or after a pause) would otherwise always pay the cold caches
        for route in names[round_ % len(names) :] + names[: round_ % len(names)]:
            if route == "transformers" and hf is None:
                continue
            if route == "raw":
                seconds, count = _raw(llm, tokens, args.tokens)
            elif route == "fb":
                seconds, count = _fb(fb, args.tokens)
            elif route == "fb+mask":
                seconds, count = _fb(fb, args.tokens, mask)
            else:
                seconds, count = _fb(hf, args.tokens)
            routes[route].append(1000 * seconds / count)
            counts[route] = count
    med = {r: statistics.median(v) for r, v in routes.items() if v}
    print(f"prompt {len(tokens)} tokens, {args.tokens} new tokens, {args.rounds} rounds interleaved; first "
          f"constrained call (GGUF vocabulary + compile) {compile_s:.2f} s\n")  # fmt: skip
    rows = []
    base = {"raw": "raw", "fb": "raw", "fb+mask": "fb", "transformers": "fb"}
    for route, values in routes.items():
        if not values:
            continue
        ratio = med[route] / med[base[route]]
        rows.append([route, " / ".join(f"{v:.1f}" for v in values), f"{med[route]:.1f}", counts[route],
                     f"{ratio:.2f}x vs {base[route]}"])  # fmt: skip
    print(table(["route", "ms/token per round (prefill incl.)", "median", "tokens", "ratio"], rows))

    if args.skip_prefill:
        print(f"\nwall {time.perf_counter() - started:.0f} s")
        print(machine(["llama_cpp_python", "llguidance", "torch", "transformers"]))
        print("rerun: OMP_NUM_THREADS=1 nice -n 10 python bench/bench_llamacpp.py " + " ".join(sys.argv[1:]))
        return
    prompts = _prompted(args.items)
    reuse_hf = load("default", device="cpu") if hf is not None else None
    prefill: dict[str, list[float]] = {}
    for label, model in [("transformers, no reuse", hf), ("transformers, prefix reuse", reuse_hf),
                         ("llama.cpp, reset", fb), ("llama.cpp, KV reuse", fb)]:  # fmt: skip
        if model is None:
            continue
        times = []
        for p in prompts:
            if label == "llama.cpp, reset":
                fb.llama.reset()  # type: ignore[attr-defined]
            start = time.perf_counter()
            (g,) = model.generate([p], max_new_tokens=1)
            times.append(time.perf_counter() - start)
        prefill[label] = times
        print(
            f"{label}: {g.prompt_tokens} prompt tokens; s per item " + " / ".join(f"{t:.2f}" for t in times)
        )
    rows = []
    for label, times in prefill.items():
        later = statistics.median(times[1:]) if len(times) > 1 else times[0]
        rows.append([label, f"{times[0]:.2f}", f"{later:.2f}"])
    print()
    print(table(["prefill route", "first item s", "later items s (median)"], rows))
    print(f"\nwall {time.perf_counter() - started:.0f} s")
    print(machine(["llama_cpp_python", "llguidance", "torch", "transformers"]))
    print("rerun: OMP_NUM_THREADS=1 nice -n 10 python bench/bench_llamacpp.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
