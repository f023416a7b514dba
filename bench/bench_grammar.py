"""Grammar compilation over a corpus of JSON Schemas: time to first mask, coverage and soundness.

Corpus (``make_schema_corpus.corpus``): the bundled JSON task-set schemas, the hand-written tricky ones in
``bench/schemas_corpus/`` and 300 generated schemas (fixed seed), each with valid instances.

Routes, each measured in its own worker process with the default model's tokenizer:
  * ``llguidance`` alone: ``LLMatcher.grammar_from_json_schema`` + ``LLMatcher`` + the first bitmask;
  * ``outlines_core`` alone: ``build_regex_from_schema`` + ``Index`` + ``Guide`` + the first mask;
  * ``xgrammar`` alone, when installed: ``GrammarCompiler.compile_json_schema`` + the first bitmask;
  * ``formbound``: ``Spec.json(schema).constraint()`` compiled by the default model's ``GrammarCompiler``
    (the fallback chain, relaxation included) + the first mask.
A schema that takes longer than ``--timeout`` seconds kills the worker (recorded as a timeout; a fresh
worker takes over), so one slow schema cannot hang the run.

Soundness: each valid instance is mutated (wrong type, missing required property, extra property, out
of range, not in enum, pattern broken, too many/few items …); only mutants that jsonschema rejects are
kept (at most ``--mutants`` per schema). Their JSON text is tokenized and fed to each compiled grammar:
"invalid accepted" counts mutants a grammar lets through to a complete value. Then ``formbound.enforce``
must reject every mutant (or return a repaired value that validates): "invalid returned by enforce" must
be 0. "valid rejected" counts valid instances a grammar refuses (the grammar is stricter than the schema), as
``json.dumps`` writes them (ASCII escapes, the corpus' key order); "valid rejected, schema order" feeds the
same values the way a constrained model writes them: keys in the order the schema declares them and
non-ASCII characters as themselves (``key_order.schema_ordered``, ``ensure_ascii=False``). llguidance
emits properties in schema order, so only the second counts values its grammar cannot produce.

Rerun: python bench/bench_grammar.py [--count 300] [--timeout 10] [--routes llguidance,formbound]
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import jsonschema
from _common import machine, percentile, table
from key_order import schema_ordered
from make_schema_corpus import corpus

import formbound as fb
from formbound.errors import EnforcementError, FormboundError

ROUTES = ("llguidance", "outlines_core", "xgrammar", "formbound")


# ----------------------------------------------------------------------------------------- mutants
def mutants(schema: dict[str, Any], valid: list[Any], limit: int) -> list[tuple[str, Any]]:
    """Up to ``limit`` (kind, instance) pairs derived from ``valid`` that ``schema`` rejects, kinds varied."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=jsonschema.FormatChecker())
    found: dict[str, list[Any]] = {}
    seen: set[str] = set()
    for instance in valid:
        for kind, candidate in _candidates(instance):
            key = json.dumps(candidate, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            if not validator.is_valid(candidate):
                found.setdefault(kind, []).append(candidate)
    out: list[tuple[str, Any]] = []
    depth = 0
    while len(out) < limit and any(len(v) > depth for v in found.values()):
        for kind in sorted(found):
            if depth < len(found[kind]) and len(out) < limit:
                out.append((kind, found[kind][depth]))
        depth += 1
    return out


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    root = copy.deepcopy(root)
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return root


def _candidates(instance: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for path, value in _paths(instance):
        if isinstance(value, bool):
            out.append(("wrong type", _set(instance, path, "yes")))
        elif isinstance(value, int | float):
            out.append(("wrong type", _set(instance, path, str(value))))
            out.append(("out of range", _set(instance, path, value + 1_000_000)))
            out.append(("out of range", _set(instance, path, value - 1_000_000)))
            out.append(("out of range", _set(instance, path, value + 0.37)))
        elif isinstance(value, str):
            out.append(("wrong type", _set(instance, path, 12345)))
            out.append(("not in enum / pattern", _set(instance, path, value + "!~ zz")))
            out.append(("out of range", _set(instance, path, value * 60)))
            out.append(("out of range", _set(instance, path, "")))
        elif value is None:
            out.append(("wrong type", _set(instance, path, 0)))
        elif isinstance(value, list):
            out.append(("wrong type", _set(instance, path, {"a": 1})))
            out.append(("too many items", _set(instance, path, value * 20 if value else [1] * 20)))
            out.append(("too few items", _set(instance, path, [])))
            if value:
                out.append(("duplicate items", _set(instance, path, [value[0], value[0], *value[1:]])))
        elif isinstance(value, dict):
            if path:
                out.append(("wrong type", _set(instance, path, [1])))
            for key in value:
                smaller = {k: v for k, v in value.items() if k != key}
                out.append(("missing property", _set(instance, path, smaller)))
            out.append(("extra property", _set(instance, path, {**value, "zz_extra": 1})))
    return out


# ------------------------------------------------------------------------------------------ workers
def _tokenizer() -> Any:
    from transformers import AutoTokenizer

    from formbound.models.default import ensure_converted
    from formbound.models.transformers import fix_special_tokens

    tok = AutoTokenizer.from_pretrained(str(ensure_converted()), local_files_only=True)
    fix_special_tokens(tok)
    return tok


class _Route:
    """One compile route inside a worker: compile + first mask, and whether token ids are accepted."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "formbound":
            from formbound.models import load

            model = load("default")
            self.hf = model.tokenizer
            self.compiler = model.compiler
        else:
            self.hf = _tokenizer()
        if name == "llguidance":
            import llguidance.hf

            self.llg = llguidance.hf.from_tokenizer(self.hf)
        elif name == "outlines_core":
            from outlines.backends.outlines_core import OutlinesCoreBackend
            from outlines.models.transformers import TransformerTokenizer

            adapted = TransformerTokenizer(self.hf)  # the token -> text mapping outlines itself uses
            self.vocab = OutlinesCoreBackend.create_outlines_core_vocabulary(
                adapted.get_vocab(), self.hf.eos_token_id, self.hf.eos_token, adapted.convert_token_to_string
            )
        elif name == "xgrammar":
            import xgrammar

            info = xgrammar.TokenizerInfo.from_huggingface(self.hf)
            self.xgc = xgrammar.GrammarCompiler(info)
            self.xinfo = info

    def compile(self, schema: Any) -> tuple[Any, str]:
        """Compile and compute the first mask; returns (handle, route taken)."""
        if self.name == "llguidance":
            import llguidance.numpy
            from llguidance import LLMatcher

            grammar = LLMatcher.grammar_from_json_schema(json.dumps(schema))
            matcher = LLMatcher(self.llg, grammar, log_level=0)
            if matcher.is_error():
                raise ValueError(matcher.get_error())
            mask = llguidance.numpy.allocate_token_bitmask(1, self.llg.vocab_size)
            llguidance.numpy.fill_next_token_bitmask(matcher, mask, 0)
            return matcher, "llguidance"
        if self.name == "outlines_core":
            from outlines_core import Guide, Index
            from outlines_core.json_schema import build_regex_from_schema

            index = Index(build_regex_from_schema(json.dumps(schema)), self.vocab)
            Guide(index).get_tokens()
            return index, "outlines_core"
        if self.name == "xgrammar":
            import xgrammar

            compiled = self.xgc.compile_json_schema(json.dumps(schema))
            matcher = xgrammar.GrammarMatcher(compiled)
            mask = xgrammar.allocate_token_bitmask(1, self.xinfo.vocab_size)
            matcher.fill_next_token_bitmask(mask, 0)
            return compiled, "xgrammar"
        import torch

        compiled = self.compiler.compile(fb.Spec.json(schema).constraint())
        rows = compiled.processor([self.hf.eos_token_id])._new_rows(1)
        rows.fill(0, torch.zeros((1, rows.words), dtype=torch.int32))
        return compiled, compiled.route

    def accepts(self, handle: Any, text: str) -> bool:
        tokens = self.hf.encode(text, add_special_tokens=False)
        if self.name == "llguidance":
            matcher = handle.deep_copy()
            return bool(matcher.consume_tokens(tokens) and matcher.is_accepting())
        if self.name == "outlines_core":
            return _guide_accepts(handle, tokens)
        if self.name == "xgrammar":
            import xgrammar

            matcher = xgrammar.GrammarMatcher(handle)
            return all(matcher.accept_token(t) for t in tokens) and bool(
                matcher.accept_token(self.hf.eos_token_id)
            )
        backend = handle.backend
        if backend == "llguidance":
            matcher = handle.artefact.deep_copy()
            return bool(matcher.consume_tokens(tokens) and matcher.is_accepting())
        if backend == "outlines_core":
            return _guide_accepts(handle.artefact, tokens)
        rows = handle.processor([self.hf.eos_token_id])._new_rows(1)
        try:
            for t in tokens:
                rows.consume(0, t)
        except FormboundError:
            return False
        return bool(rows.matchers[0].accept_token(self.hf.eos_token_id))


def _guide_accepts(index: Any, tokens: list[int]) -> bool:
    from outlines_core import Guide

    guide = Guide(index)
    try:
        for t in tokens:
            guide.advance(token_id=t, return_tokens=False)
    except ValueError:
        return False
    return bool(guide.is_finished())


def _worker(name: str, conn: Connection) -> None:
    route = _Route(name)
    route.compile({"type": "object", "properties": {"a": {"type": "integer"}}})  # warm-up, not timed
    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        schema, valid_texts, ordered_texts, invalid_texts = job
        start = time.perf_counter()
        try:
            handle, taken = route.compile(schema)
        except Exception as exc:  # every backend error means "does not compile"; reported, not hidden
            conn.send(
                {"ok": False, "seconds": time.perf_counter() - start, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        seconds = time.perf_counter() - start
        conn.send(
            {
                "ok": True,
                "seconds": seconds,
                "route": taken,
                "valid_rejected": sum(not route.accepts(handle, t) for t in valid_texts),
                "valid_rejected_ordered": sum(not route.accepts(handle, t) for t in ordered_texts),
                "invalid_accepted": [route.accepts(handle, t) for t in invalid_texts],
            }
        )


class Worker:
    """A route in a child process; ``run`` returns None when the schema exceeds the timeout."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: Any = None
        self.conn: Connection | None = None
        self.restarts = 0

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(self.name, child), daemon=True)
        self.proc.start()
        child.close()  # so that a worker dying makes poll() return (EOF) instead of waiting
        self.conn = parent
        deadline = time.monotonic() + 300
        while not parent.poll(1):
            if not self.proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} worker did not start (exit code {self.proc.exitcode})")
        try:
            msg = parent.recv()
        except EOFError:
            msg = f"exited with code {self.proc.exitcode}"
        if msg != "ready":
            raise RuntimeError(f"{self.name} worker: {msg}")

    def run(self, job: Any, timeout: float) -> dict[str, Any] | None:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        assert self.conn is not None
        self.conn.send(job)
        if self.conn.poll(timeout):
            try:
                result: dict[str, Any] = self.conn.recv()
            except EOFError:  # the worker crashed on this schema (e.g. a stack overflow in a backend)
                result = {"ok": False, "seconds": 0.0, "error": f"worker crashed ({self.proc.exitcode})"}
                self.kill()
            return result
        self.kill()
        self.restarts += 1
        return None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.conn is not None:
            self.conn.send(None)
            self.proc.join(10)
        self.kill()


def available(name: str) -> bool:
    if name != "xgrammar":
        return True
    try:
        import xgrammar  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description="grammar compilation benchmark")
    parser.add_argument("--count", type=int, default=300, help="generated schemas (plus bundled and tricky)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per schema per route")
    parser.add_argument("--mutants", type=int, default=4, help="invalid instances per schema")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--details", help="write per-schema results (JSON lines) to this file")
    args = parser.parse_args()

    items = corpus(args.count, args.seed)
    jobs = []
    for item in items:
        bad = mutants(item["schema"], item["valid"], args.mutants)
        ordered = [json.dumps(schema_ordered(item["schema"], v), ensure_ascii=False) for v in item["valid"]]
        jobs.append((item, [json.dumps(v) for v in item["valid"]], ordered, bad))
    n_invalid = sum(len(b) for *_, b in jobs)
    mutant_kinds = Counter(kind for *_, b in jobs for kind, _ in b)

    # Post-validation: formbound.enforce on every mutant (in this process; no grammar involved).
    returned_invalid = 0
    for item, *_, bad in jobs:
        spec = fb.Spec.json(item["schema"])
        check = jsonschema.validators.validator_for(item["schema"])(
            item["schema"], format_checker=jsonschema.FormatChecker()
        )
        for _, value in bad:
            try:
                result = fb.enforce(json.dumps(value), spec)
            except EnforcementError:
                continue
            if not check.is_valid(result.value):
                returned_invalid += 1

    rows = []
    details: list[dict[str, Any]] = []
    routes = [r for r in args.routes.split(",") if r]
    for name in routes:
        if not available(name):
            rows.append([name, "not installed", "", "", "", "", "", "", "", ""])
            continue
        worker = Worker(name)
        worker.start()
        times: list[float] = []
        outcome: Counter[str] = Counter()
        valid_rejected = valid_rejected_ordered = invalid_accepted = 0
        wall = time.perf_counter()
        for item, valid_texts, ordered, bad in jobs:
            job = (item["schema"], valid_texts, ordered, [json.dumps(v) for _, v in bad])
            res = worker.run(job, args.timeout)
            if res is None:
                outcome["timeout"] += 1
                details.append({"route": name, "schema": item["name"], "outcome": "timeout"})
                continue
            if not res["ok"]:
                outcome["failed"] += 1
                details.append(
                    {"route": name, "schema": item["name"], "outcome": "failed", "error": res["error"]}
                )
                continue
            times.append(res["seconds"])
            taken = res["route"]
            outcome["fallback" if name == "formbound" and taken != "llguidance" else "compiled"] += 1
            if taken != name and name == "formbound":
                outcome[f"route {taken}"] += 1
            valid_rejected += res["valid_rejected"]
            valid_rejected_ordered += res["valid_rejected_ordered"]
            accepted = sum(res["invalid_accepted"])
            invalid_accepted += accepted
            details.append(
                {"route": name, "schema": item["name"], "outcome": taken,
                 "ms": round(res["seconds"] * 1e3, 2), "valid_rejected": res["valid_rejected"],
                 "valid_rejected_ordered": res["valid_rejected_ordered"],
                 "invalid_accepted": [k for (k, _), a in zip(bad, res["invalid_accepted"], strict=True) if a]}
            )  # fmt: skip
        worker.close()
        wall = time.perf_counter() - wall
        routes_taken = ", ".join(f"{k[6:]} {v}" for k, v in sorted(outcome.items()) if k.startswith("route "))
        rows.append(
            [name, f"{percentile(times, 50) * 1e3:.1f}", f"{percentile(times, 95) * 1e3:.1f}",
             f"{percentile(times, 99) * 1e3:.1f}",
             f"{outcome['compiled']}/{outcome['fallback']}/{outcome['failed'] + outcome['timeout']}"
             + (f" ({outcome['timeout']} timeouts)" if outcome["timeout"] else ""),
             routes_taken or "-", f"{invalid_accepted}/{n_invalid}", str(valid_rejected),
             str(valid_rejected_ordered), f"{wall:.0f}"]
        )  # fmt: skip

    n_valid = sum(len(v) for _, v, *_ in jobs)
    print(f"# grammar compilation — {machine(['llguidance', 'outlines_core', 'xgrammar', 'outlines'])}")
    print(
        f"{len(items)} schemas ({args.count} generated, seed {args.seed}), {n_valid} valid instances, "
        f"{n_invalid} invalid ones ({', '.join(f'{k} {v}' for k, v in sorted(mutant_kinds.items()))}); "
        f"timeout {args.timeout:g} s per schema\n"
    )
    header = ["route", "first mask p50 ms", "p95 ms", "p99 ms", "compiled/fallback/failed", "fallback routes",
              "invalid accepted by grammar", "valid rejected by grammar",
              "valid rejected, schema order", "wall s"]  # fmt: skip
    print(table(header, rows))
    print(
        f"\nformbound.enforce returned an invalid value for {returned_invalid}/{n_invalid} invalid instances"
    )
    print("\nrerun: python bench/bench_grammar.py")
    if args.details:
        with open(args.details, "w", encoding="utf-8") as fh:
            for row in details:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
