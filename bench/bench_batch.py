"""Batching on the default model: one ``generate`` call with N prompts vs N calls with one prompt each.

Same process, same templated contacts prompts, greedy, ``--max-new-tokens`` new tokens, unconstrained and
constrained (the contacts spec through the default chain). Routes alternate round by round and the
median over ``--rounds`` is reported. Per route: wall seconds of the whole job, tokens generated per row,
and the decode steps transformers ran (a batch runs until its longest row stops, so rows that stopped
early keep being computed). The model alone is timed too: one prefill forward of the padded batch, and
one decode step of a batch with a KV cache, at batch 1 and batch N, to separate what the model costs
from what formbound adds.

Rerun: python bench/bench_batch.py [--prompts 3] [--max-new-tokens 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import contacts_prompts, machine, table


def main() -> None:
    parser = argparse.ArgumentParser(description="batching benchmark")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    from formbound.models import load

    spec, chats = contacts_prompts(args.prompts)
    constraint = spec.constraint()
    model = load("default")
    tok = model.tokenizer
    templated = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in templated]
    n = len(templated)

    def batch(con: Any) -> tuple[float, list[int]]:
        start = time.perf_counter()
        gens = model.generate(templated, constraint=con, max_new_tokens=args.max_new_tokens)
        return time.perf_counter() - start, [g.generated_tokens for g in gens]

    def one_by_one(con: Any) -> tuple[float, list[int]]:
        start = time.perf_counter()
        tokens = []
        for t in templated:
            tokens += [
                g.generated_tokens
                for g in model.generate([t], constraint=con, max_new_tokens=args.max_new_tokens)
            ]
        return time.perf_counter() - start, tokens

    routes = {
        f"unconstrained, 1 call x {n} prompts": lambda: batch(None),
        f"unconstrained, {n} calls x 1 prompt": lambda: one_by_one(None),
        f"constrained, 1 call x {n} prompts": lambda: batch(constraint),
        f"constrained, {n} calls x 1 prompt": lambda: one_by_one(constraint),
    }
    model.generate([templated[0]], constraint=constraint, max_new_tokens=2)  # compile the grammar
    model.generate(templated, max_new_tokens=2)  # warm the batch path
    seconds: dict[str, list[float]] = {k: [] for k in routes}
    tokens: dict[str, list[int]] = {}
    for _ in range(args.rounds):
        for name, fn in routes.items():
            s, t = fn()
            seconds[name].append(s)
            tokens[name] = t

    # The model alone: prefill forward and one cached decode step, batch 1 vs batch n (left-padded).
    encoded = [model._encode(t) for t in templated]
    model_rows = []
    with torch.inference_mode():
        for rows in (encoded[:1], encoded):
            ids, mask = model._pad(rows)
            pre: list[float] = []
            step: list[float] = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                out = model.model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
                pre.append(time.perf_counter() - start)
                nxt = out.logits[:, -1:].argmax(-1)
                step_mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
                start = time.perf_counter()
                model.model(
                    input_ids=nxt,
                    attention_mask=step_mask,
                    past_key_values=out.past_key_values,
                    use_cache=True,
                )
                step.append(time.perf_counter() - start)
            model_rows.append(
                [f"batch {len(rows)} (width {ids.shape[1]})", f"{statistics.median(pre) * 1e3:.0f}",
                 f"{statistics.median(step) * 1e3:.1f}"]
            )  # fmt: skip

    single = {
        "unconstrained": f"unconstrained, {n} calls x 1 prompt",
        "constrained": f"constrained, {n} calls x 1 prompt",
    }
    rows = []
    for name in routes:
        med = statistics.median(seconds[name])
        ref = statistics.median(seconds[single[name.split(",")[0]]])
        per_row = " ".join(map(str, tokens[name]))
        rows.append([name, f"{med:.2f}", f"{med / ref:.2f}x", f"{med / ref * n:.2f}x", per_row])
    print(f"# batching — {machine(['torch', 'transformers', 'llguidance'])}")
    print(
        f"default model (SmolLM2-135M-Instruct, float32, CPU, {torch.get_num_threads()} threads), greedy, "
        f"{n} contacts prompts of {lengths} tokens, {args.max_new_tokens} new tokens, median of "
        f"{args.rounds} rounds; constrained route: {model.compiler.compile(constraint).route}\n"
    )
    header = ["job", "wall s", f"vs {n} single calls", "vs one single call (avg)", "tokens per row"]
    print(table(header, rows))
    print()
    print(table(["model alone", "prefill forward ms", "one cached decode step ms"], model_rows))
    print(f"\nrerun: python bench/bench_batch.py --prompts {n} --max-new-tokens {args.max_new_tokens}")


if __name__ == "__main__":
    main()
