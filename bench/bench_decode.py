"""Constrained decoding cost on the default model: formbound vs outlines-direct vs unconstrained.

Same process, same Hugging Face model and tokenizer objects, same chat-templated prompts (contacts task
set), greedy, ``--max-new-tokens`` new tokens:
  * ``unconstrained``: ``TransformersModel.generate`` without a constraint;
  * ``formbound/<backend>``: ``generate(constraint=spec.constraint())`` with a compiler restricted to
    that backend (the compiled grammar is cached, as in real use; no compile-time budget, since compile
    time is not what is measured here and a loaded machine can push outlines_core past the default 2 s);
  * ``outlines/<backend>``: ``outlines.Generator(outlines.from_transformers(model, tokenizer),
    JsonSchema(same bounded schema, same whitespace), backend)`` (bounded for the same token budget,
    ``budget_schema``, as formbound bounds it) called with ``outlines.inputs.Chat`` —
    the code a user would write without formbound. The generator is built once and reused.
Routes run interleaved prompt by prompt (drift on the shared machine hits all of them alike); every route
is warmed up once first (outlines' first constrained call pays a torch.compile). ms/token is
``(seconds - prefill) / (tokens - 1)`` with the prefill time of the same prompt measured separately
(``max_new_tokens=1``, unconstrained), so routes that stop earlier are not charged more prefill per token;
the median over prompts is reported. outlines returns text only: its token count is the re-encoded text
(+1 for the end-of-turn token when the JSON completed).

Rerun: python bench/bench_decode.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import contacts_prompts, machine, table

import formbound as fb


def main() -> None:
    parser = argparse.ArgumentParser(description="constrained decoding benchmark")
    parser.add_argument("--quick", action="store_true", help="3 prompts, 32 tokens")
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--backends", default="llguidance,outlines_core")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.max_new_tokens = 3, 32

    import outlines
    import torch
    from outlines.inputs import Chat
    from outlines.types import JsonSchema

    from formbound.constraints.bounds import budget_schema
    from formbound.models import load
    from formbound.models.constrained import DEFAULT_WHITESPACE, GrammarCompiler, with_llg_whitespace
    from formbound.models.transformers import TransformersModel

    torch.set_num_threads(max(1, torch.get_num_threads()))
    spec, chats = contacts_prompts(args.prompts)
    constraint = spec.constraint()
    model = load("default")
    if not isinstance(model, TransformersModel):  # the routes below drive its HF model directly
        raise SystemExit(f"the default model loaded as {type(model).__name__}, not a TransformersModel")
    tok = model.tokenizer
    templated = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    o_model = outlines.from_transformers(model.model, tok)
    backends = [b for b in args.backends.split(",") if b]
    eos = _eos_ids(tok, model.model)
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens, "do_sample": False, "repetition_penalty": 1.0,
        "eos_token_id": eos, "pad_token_id": tok.pad_token_id, "temperature": None, "top_p": None,
        "top_k": None,
    }  # fmt: skip

    compilers = {
        b: GrammarCompiler(
            model.model, tok, backends=(b,), whitespace_pattern=DEFAULT_WHITESPACE, compile_budget_s=None
        )
        for b in backends
    }
    o_gens = {}
    routes_taken = {}
    for b in backends:
        compiled = compilers[b].compile(constraint, args.max_new_tokens)  # as generate() compiles it
        routes_taken[b] = compiled.route
        schema: Any = constraint.value
        if compiled.bucket is not None:
            schema = budget_schema(schema, compiled.bucket, compilers[b].count_tokens)[0]
        if b == "llguidance":
            # The same grammar formbound compiles: bounded whitespace, and llguidance's lenient mode when
            # formbound had to take it (strict llguidance rejects e.g. uniqueItems).
            schema = json.loads(with_llg_whitespace(schema, DEFAULT_WHITESPACE))
            if compiled.route.startswith("relaxed:"):
                schema["x-guidance"]["lenient"] = True
        ws = None if b == "llguidance" else DEFAULT_WHITESPACE
        o_gens[b] = outlines.Generator(o_model, JsonSchema(json.dumps(schema), whitespace_pattern=ws), b)

    def ours(backend: str | None) -> Callable[[int], tuple[float, int, str]]:
        def run(i: int) -> tuple[float, int, str]:
            if backend is not None:
                model.compiler = compilers[backend]
            start = time.perf_counter()
            g = model.generate(
                [templated[i]], constraint=constraint if backend else None, max_new_tokens=args.max_new_tokens
            )[0]
            return time.perf_counter() - start, g.generated_tokens, g.text

        return run

    def direct(backend: str) -> Callable[[int], tuple[float, int, str]]:
        def run(i: int) -> tuple[float, int, str]:
            start = time.perf_counter()
            with torch.inference_mode():
                text = o_gens[backend](Chat(chats[i]), **gen_kwargs)
            seconds = time.perf_counter() - start
            if not isinstance(text, str):  # a sync transformers model answers with text, not a coroutine
                raise TypeError(f"outlines returned {type(text).__name__}, expected str")
            tokens = len(tok.encode(text, add_special_tokens=False))
            try:
                json.loads(text)
                tokens += 1  # the end-of-turn token that closed it
            except ValueError:
                pass  # cut by the token limit: no end token was generated
            return seconds, tokens, text

        return run

    routes: dict[str, Callable[[int], tuple[float, int, str]]] = {"unconstrained": ours(None)}
    for b in backends:
        routes[f"formbound/{b}"] = ours(b)
        routes[f"outlines/{b}"] = direct(b)

    prefill: list[float] = []
    for i in range(len(templated)):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            model.generate([templated[i]], max_new_tokens=1)
            runs.append(time.perf_counter() - start)
        prefill.append(statistics.median(runs))
    for fn in routes.values():  # warm-up: compile grammars, outlines' torch.compile, caches
        fn(0)

    per_token: dict[str, list[float]] = {name: [] for name in routes}
    totals: dict[str, list[int]] = {name: [] for name in routes}
    texts: dict[str, list[str]] = {name: [] for name in routes}
    for i in range(len(templated)):
        for name, fn in routes.items():
            seconds, tokens, text = fn(i)
            if tokens > 1:
                per_token[name].append((seconds - prefill[i]) / (tokens - 1))
            totals[name].append(tokens)
            texts[name].append(text)

    base = statistics.median(per_token["unconstrained"])
    rows: list[list[Any]] = []
    for name in routes:
        ms = statistics.median(per_token[name])
        valid = sum(_is_valid(t, spec) for t in texts[name])
        vs = ""
        if name.startswith("formbound/"):
            other = statistics.median(per_token["outlines/" + name.split("/", 1)[1]])
            same = sum(
                a == b for a, b in zip(texts[name], texts["outlines/" + name.split("/", 1)[1]], strict=True)
            )
            vs = f"{ms / other:.2f}x ({same}/{len(texts[name])} identical outputs)"
        rows.append(
            [name, f"{ms * 1e3:.1f}", f"{ms / base:.2f}x", vs, f"{statistics.mean(totals[name]):.0f}",
             f"{valid}/{len(texts[name])}"]
        )  # fmt: skip
    packages = ["torch", "transformers", "outlines", "llguidance", "outlines_core"]
    print(f"# constrained decoding — {machine(packages)}")
    print(
        f"default model (SmolLM2-135M-Instruct, float32, CPU, {torch.get_num_threads()} threads), greedy, "
        f"{len(templated)} contacts prompts, {args.max_new_tokens} new tokens, batch 1; "
        f"median prefill {statistics.median(prefill) * 1e3:.0f} ms; formbound routes: {routes_taken}\n"
    )
    header = ["route", "ms/token (median)", "vs unconstrained", "formbound vs outlines-direct",
              "mean tokens", "schema-valid"]  # fmt: skip
    print(table(header, rows))
    print("\nrerun: python bench/bench_decode.py" + (" --quick" if args.quick else ""))


def _eos_ids(tokenizer: Any, hf_model: Any) -> list[int]:
    """The tokenizer's end-of-sequence id, then any other the model's generation config stops on
    (the ids ``TransformersModel.generate`` stops on), for outlines' ``eos_token_id``."""
    ids = [int(tokenizer.eos_token_id)]
    configured = getattr(getattr(hf_model, "generation_config", None), "eos_token_id", None)
    for extra in configured if isinstance(configured, list) else [configured]:
        if extra is not None and int(extra) not in ids:
            ids.append(int(extra))
    return ids


def _is_valid(text: str, spec: fb.Spec) -> bool:
    try:
        spec.check(text)
    except fb.EnforcementError:
        return False
    return True


if __name__ == "__main__":
    main()
