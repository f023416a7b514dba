"""enforce() throughput vs calling the validator directly, on valid and repairable JSON.

Baselines measured in the same run:
  * jsonschema: ``json.loads`` + a compiled ``Draft202012Validator.validate`` (what a user would write);
  * pydantic: ``Model.model_validate_json``.
Figures are median seconds per call over repeated timing rounds; the ratio is formbound / baseline.
``--quick`` times a tenth of the calls over 3 rounds (a smoke run; its ratios are noisier).

Rerun: python bench/bench_enforce.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import timeit
from typing import Any

import jsonschema

import formbound as fb

ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "name": {"type": "string", "maxLength": 80},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        "score": {"type": ["number", "null"]},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["city", "zip"],
        },
    },
    "required": ["id", "name", "email", "tags", "address"],
    "additionalProperties": False,
}
LIST = {"type": "array", "items": ITEM}


def item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"Person number {i}",
        "email": f"p{i}@example.org",
        "tags": ["alpha", "beta", "gamma"][: i % 3 + 1],
        "score": None if i % 4 == 0 else i / 7,
        "address": {"city": "Lyon", "zip": f"{69000 + i % 100:05d}"},
    }


def broken_of(text: str) -> str:
    """A repairable variant of a valid JSON array: a Markdown fence and a trailing comma."""
    return "Here you go:\n```json\n" + text[:-1] + ",]\n```"


def docs() -> dict[str, tuple[dict[str, Any], str]]:
    from formbound.formats.json.spec import MAX_REPAIR_CHARS

    small = json.dumps([item(i) for i in range(5)])  # ~1 KB
    # ~100 KB: the most items whose repairable variant formbound still repairs (longer invalid texts
    # are refused outright, by design)
    count = 1
    while len(broken_of(json.dumps([item(i) for i in range(count + 1)]))) <= MAX_REPAIR_CHARS:
        count += 1
    big = json.dumps([item(i) for i in range(count)])
    return {"1KB": (LIST, small), "100KB": (LIST, big)}


#: Timing rounds (the median is reported) and the share of the calls timed; ``--quick`` lowers both.
ROUNDS = {"repeat": 7, "scale": 1.0}


def best_of(fn: Any, number: int, repeat: int | None = None) -> float:
    number = max(1, int(number * ROUNDS["scale"]))
    rounds = int(ROUNDS["repeat"]) if repeat is None else repeat
    return statistics.median(timeit.repeat(fn, number=number, repeat=rounds)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description="enforce() throughput vs the validator called directly")
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        ROUNDS.update(repeat=3, scale=0.1)
    rows = []
    for label, (schema, text) in docs().items():
        number = 200 if label == "1KB" else 3
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        validator.validate(json.loads(text))  # the document is valid: the baseline accepts it
        spec = fb.Spec.json(schema)
        try:
            fb.enforce(text, spec)  # warm
        except fb.EnforcementError as exc:
            raise SystemExit(f"formbound rejected the valid {label} document: {exc}") from exc

        def direct(text: str = text, validator: Any = validator) -> None:
            validator.validate(json.loads(text))

        base = best_of(direct, number)
        ours = best_of(lambda text=text, spec=spec: fb.enforce(text, spec), number)
        rows.append((f"valid {label}", "jsonschema direct", base, ours))

        broken = broken_of(text)
        ours_rep = best_of(lambda broken=broken, spec=spec: fb.enforce(broken, spec), max(1, number // 4))
        rows.append((f"repairable {label}", "jsonschema direct (on the valid text)", base, ours_rep))

    has_pydantic = importlib.util.find_spec("pydantic") is not None
    if has_pydantic:
        import pydantic

        class Address(pydantic.BaseModel):
            city: str
            zip: str

        class Item(pydantic.BaseModel):
            id: int
            name: str
            email: str
            tags: list[str]
            score: float | None
            address: Address

        text = json.dumps(item(3))
        spec = fb.Spec.json(Item)
        base = best_of(lambda: Item.model_validate_json(text), 2000)
        ours = best_of(lambda: fb.enforce(text, spec), 2000)
        rows.append(("valid pydantic object", "pydantic model_validate_json", base, ours))
        breakdown = _pydantic_breakdown(Item, text, spec)
        laxes = [
            text.replace('{"id": 3,', '{"id": 1, "id": 3,'),  # duplicate key
            text.replace(f'"score": {item(3)["score"]}', '"score": NaN'),  # no JSON equivalent
        ]
        lax_rows = []
        for lax in laxes:
            try:
                fb.enforce(lax, spec, repair=False)
                ours_lax = "accepted"
            except fb.EnforcementError as exc:
                ours_lax = f"rejected: {exc.errors[0]}"
            lax_rows.append((lax, repr(Item.model_validate_json(lax)), ours_lax))

    machine = platform.processor() or platform.machine()
    print(f"# enforce throughput — {machine}, Python {sys.version.split()[0]}")
    print(f"{'case':<24} {'baseline':<40} {'baseline µs':>12} {'formbound µs':>13} {'ratio':>7}")
    for case, baseline, b, o in rows:
        print(f"{case:<24} {baseline:<40} {b * 1e6:>12.1f} {o * 1e6:>13.1f} {o / b:>6.2f}x")
    if has_pydantic:
        print("\npydantic object, where formbound's time goes (µs per call, same run):")
        for step, seconds in breakdown:
            print(f"  {step:<58} {seconds * 1e6:>7.2f}")
        print("\nwhy formbound does not call model_validate_json:")
        for lax, pydantic_lax, ours_lax in lax_rows:
            print(f"  {lax}\n    pydantic:  {pydantic_lax}\n    formbound: {ours_lax}")
    print("\nrerun: python bench/bench_enforce.py" + (" --quick" if args.quick else ""))


def _pydantic_breakdown(model: Any, text: str, spec: Any) -> list[tuple[str, float]]:
    """Each step of ``enforce`` on a valid pydantic object, timed alone, next to the baseline.

    formbound cannot hand the text to ``model_validate_json``: pydantic's parser accepts duplicate keys
    (last one wins) and ``NaN``/``Infinity``, which formbound rejects as syntax errors. So it parses with
    ``json`` and a pairs hook (duplicate check), then validates the Python dict with ``model_validate``.
    """
    value = spec.parse(text)
    steps = [
        ("baseline: model_validate_json (Rust parse + validate)", lambda: model.model_validate_json(text)),
        ("json.loads, no hooks", lambda: json.loads(text)),
        ("JsonSpec.parse: json decoder + duplicate-key pairs hook", lambda: spec.parse(text)),
        ("model_validate(dict) (JsonSpec.validate)", lambda: spec.validate(value, text)),
        ("spec.check = parse + validate", lambda: spec.check(text)),
        ("fb.enforce (check + Spec.coerce + Result)", lambda: fb.enforce(text, spec)),
    ]
    return [(name, best_of(fn, 5000)) for name, fn in steps]


if __name__ == "__main__":
    main()
