"""Deterministic corpus of JSON Schemas of varied complexity, each with valid example instances.

Every schema is built together with instances that satisfy it (checked with jsonschema before it is kept),
so the grammar benchmark can mutate them into instances the schema rejects. Features drawn at random,
with a fixed seed: nested objects, ``$ref`` into ``$defs``, recursion, ``anyOf``/``oneOf``/``allOf``,
``pattern``, ``format``, min/max constraints on numbers, strings and arrays, ``enum``/``const``,
``uniqueItems``, ``prefixItems``, ``additionalProperties`` (false or a schema), ``patternProperties``,
``dependentRequired``, ``if``/``then``, nullable unions, arrays of objects.

Besides the generated ones, the corpus holds the hand-written schemas of ``bench/schemas_corpus/*.json``
(each a ``{"schema": ..., "valid": [...]}`` file) and the bundled
``src/formbound/tasksets/*/schema.json`` with the gold answers of their task sets as valid instances.

Write the generated corpus to a folder (one JSON file per schema):
    python bench/make_schema_corpus.py --out /tmp/corpus [--count 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import string
from pathlib import Path
from typing import Any

import jsonschema

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PATTERNS: list[tuple[str, list[str]]] = [
    ("^[A-Z]{3}-[0-9]{4}$", ["ABC-1234", "XYZ-0001"]),
    ("^[0-9]{5}(-[0-9]{4})?$", ["12345", "12345-6789"]),
    ("^[a-z0-9_]{3,16}$", ["user_1", "abc"]),
    ("^\\+?[0-9 ]{7,15}$", ["+33 1234567", "5551234567"]),
    ("^#[0-9a-fA-F]{6}$", ["#a1b2c3", "#FFFFFF"]),
    ("^v[0-9]+\\.[0-9]+\\.[0-9]+$", ["v1.2.3", "v10.0.1"]),
]
FORMATS: dict[str, list[str]] = {
    "email": ["ann@example.org", "b.c@mail.example.com"],
    "date": ["2024-03-01", "1999-12-31"],
    "date-time": ["2024-03-01T10:00:00Z", "2023-07-14T08:30:00+02:00"],
    "uri": ["https://example.org/a", "http://example.com/x?y=1"],
    "uuid": ["123e4567-e89b-12d3-a456-426614174000", "00000000-0000-4000-8000-000000000000"],
    "ipv4": ["192.168.0.1", "10.0.0.254"],
    "hostname": ["example.org", "db-1.internal"],
}
WORDS = ["alpha", "beta", "gamma", "delta", "omega", "red", "green", "blue", "north", "south", "lyon", "oslo"]


class Gen:
    """Builds one schema and ``n`` valid instances of it, all from one random stream."""

    def __init__(self, rng: random.Random, n: int = 2) -> None:
        self.rng = rng
        self.n = n
        self.defs: dict[str, Any] = {}
        self.def_examples: dict[str, list[Any]] = {}

    def word(self) -> str:
        return self.rng.choice(WORDS)

    def name(self, used: set[str]) -> str:
        while True:
            base = self.word() + "_" + "".join(self.rng.choice(string.ascii_lowercase) for _ in range(3))
            if base not in used:
                used.add(base)
                return base

    # ------------------------------------------------------------------ leaves
    def leaf(self) -> tuple[dict[str, Any], list[Any]]:
        r = self.rng
        kind = r.choice(
            ["str", "str_len", "pattern", "format", "int", "num", "bool", "enum", "const", "nullable"]
        )
        if kind == "str":
            return {"type": "string"}, [self.word() for _ in range(self.n)]
        if kind == "str_len":
            lo, hi = r.randint(1, 3), r.randint(8, 40)
            return {"type": "string", "minLength": lo, "maxLength": hi}, [
                self.word()[:hi] for _ in range(self.n)
            ]
        if kind == "pattern":
            pattern, examples = r.choice(PATTERNS)
            return {"type": "string", "pattern": pattern}, [r.choice(examples) for _ in range(self.n)]
        if kind == "format":
            fmt = r.choice(sorted(FORMATS))
            return {"type": "string", "format": fmt}, [r.choice(FORMATS[fmt]) for _ in range(self.n)]
        if kind == "int":
            lo = r.randint(-100, 50)
            hi = lo + r.randint(1, 1000)
            schema: dict[str, Any] = {"type": "integer", "minimum": lo, "maximum": hi}
            if r.random() < 0.2:
                schema = {"type": "integer", "exclusiveMinimum": lo, "maximum": hi}
                return schema, [r.randint(lo + 1, hi) for _ in range(self.n)]
            if r.random() < 0.15:
                schema["multipleOf"] = 5
                first = -(-lo // 5)
                schema["maximum"] = hi = max(hi, 5 * first)
                return schema, [5 * r.randint(first, hi // 5) for _ in range(self.n)]
            return schema, [r.randint(lo, hi) for _ in range(self.n)]
        if kind == "num":
            lo = round(r.uniform(-10, 10), 2)
            hi = round(lo + r.uniform(1, 100), 2)
            return {"type": "number", "minimum": lo, "maximum": hi}, [
                round(r.uniform(lo, hi), 3) for _ in range(self.n)
            ]
        if kind == "bool":
            return {"type": "boolean"}, [r.random() < 0.5 for _ in range(self.n)]
        if kind == "enum":
            values = r.sample(WORDS, r.randint(2, 6))
            return {"enum": values}, [r.choice(values) for _ in range(self.n)]
        if kind == "const":
            value = self.word()
            return {"const": value}, [value] * self.n
        inner, examples = self.leaf()
        if "type" in inner and isinstance(inner["type"], str):
            inner = {**inner, "type": [inner["type"], "null"]}
            return inner, [None if r.random() < 0.3 else e for e in examples]
        return {"anyOf": [inner, {"type": "null"}]}, [None if r.random() < 0.3 else e for e in examples]

    # ---------------------------------------------------------------- composites
    def node(self, depth: int) -> tuple[dict[str, Any], list[Any]]:
        r = self.rng
        if depth <= 0:
            return self.leaf()
        kind = r.choices(
            ["leaf", "object", "array", "anyOf", "oneOf", "allOf", "ref", "map", "tuple"],
            weights=[4, 4, 2, 1, 1, 1, 1, 1, 1],
        )[0]
        if kind == "leaf":
            return self.leaf()
        if kind == "object":
            return self.obj(depth)
        if kind == "array":
            items, examples = self.node(depth - 1)
            lo, hi = r.randint(0, 2), r.randint(3, 8)
            schema: dict[str, Any] = {"type": "array", "items": items, "minItems": lo, "maxItems": hi}
            out = [
                [examples[(i + j) % len(examples)] for j in range(r.randint(lo, min(hi, 3)))]
                for i in range(self.n)
            ]
            if r.random() < 0.2 and "enum" not in items and "const" not in items:
                schema["uniqueItems"] = True
                out = [_unique(v) for v in out]
                out = [v if len(v) >= lo else None for v in out]
            return schema, out
        if kind == "anyOf":
            (a, ea), (b, eb) = self.node(depth - 1), self.node(depth - 1)
            return {"anyOf": [a, b]}, [ea[i] if r.random() < 0.5 else eb[i] for i in range(self.n)]
        if kind == "oneOf":
            alts, per = [], []
            for tag in r.sample(WORDS, r.randint(2, 3)):
                schema_alt, ex = self.obj(depth - 1, tag=tag)
                alts.append(schema_alt)
                per.append(ex)
            return {"oneOf": alts}, [r.choice(per)[i] for i in range(self.n)]
        if kind == "allOf":
            (a, ea), (b, eb) = self.obj(depth - 1, closed=False), self.obj(depth - 1, closed=False)
            out = [
                {**eb[i], **ea[i]} if isinstance(ea[i], dict) and isinstance(eb[i], dict) else None
                for i in range(self.n)
            ]
            return {"allOf": [a, b]}, out
        if kind == "ref":
            if self.def_examples and r.random() < 0.5:
                name = r.choice(sorted(self.def_examples))
            else:
                name = f"def{len(self.defs)}"
                self.defs[name] = {}  # reserve the name (recursion guard)
                schema_def, ex = self.node(depth - 1)
                self.defs[name] = schema_def
                self.def_examples[name] = ex
            return {"$ref": f"#/$defs/{name}"}, list(self.def_examples[name])
        if kind == "map":
            value, examples = self.leaf()
            keys = [self.word() for _ in range(2)]
            if r.random() < 0.5:
                return {"type": "object", "additionalProperties": value}, [
                    {keys[0]: examples[i], keys[1] + "x": examples[(i + 1) % self.n]} for i in range(self.n)
                ]
            return {
                "type": "object",
                "patternProperties": {"^[a-z]+$": value},
                "additionalProperties": False,
            }, [{keys[0]: examples[i]} for i in range(self.n)]
        parts = [self.leaf() for _ in range(r.randint(2, 3))]
        return {
            "type": "array",
            "prefixItems": [p[0] for p in parts],
            "items": False,
            "minItems": len(parts),
        }, [[p[1][i] for p in parts] for i in range(self.n)]

    def obj(
        self, depth: int, tag: str | None = None, closed: bool | None = None
    ) -> tuple[dict[str, Any], list[Any]]:
        r = self.rng
        used: set[str] = set()
        props: dict[str, Any] = {}
        examples: list[dict[str, Any]] = [{} for _ in range(self.n)]
        if tag is not None:
            props["kind"] = {"const": tag}
            for e in examples:
                e["kind"] = tag
        for _ in range(r.randint(1, 6 if depth > 1 else 10)):
            key = self.name(used)
            schema, values = self.node(depth - 1)
            props[key] = schema
            for e, v in zip(examples, values, strict=True):
                e[key] = v
        keys = list(props)
        required = sorted(
            r.sample(keys, r.randint(1, len(keys))) + (["kind"] if tag and "kind" not in keys else [])
        )
        required = sorted(set(required) | ({"kind"} if tag else set()))
        schema_obj: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        closed = r.random() < 0.6 if closed is None else closed
        if closed:
            schema_obj["additionalProperties"] = False
        if r.random() < 0.1 and len(keys) >= 2:
            schema_obj["dependentRequired"] = {keys[0]: [keys[1]]}
        if r.random() < 0.1:
            schema_obj["minProperties"] = 1
        for e in examples:  # optional properties are sometimes left out
            for key in keys:
                if key not in required and r.random() < 0.3:
                    e.pop(key, None)
        return schema_obj, examples

    def recursive_tree(self) -> tuple[dict[str, Any], list[Any]]:
        leaf, examples = self.leaf()
        self.defs["node"] = {
            "type": "object",
            "properties": {
                "value": leaf,
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 4},
            },
            "required": ["value"],
            "additionalProperties": False,
        }
        out = []
        for i in range(self.n):
            v = examples[i]
            out.append({"value": v, "children": [{"value": v, "children": [{"value": v}]}, {"value": v}]})
        return {"$ref": "#/$defs/node"}, out


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def generate(count: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` schemas, each ``{"name", "schema", "valid": [instances]}``; the same for the same seed.

    Candidates whose examples do not validate (a random draw can make one unsatisfiable) are skipped
    and replaced by the next draw, so the corpus always holds ``count`` schemas.
    """
    out: list[dict[str, Any]] = []
    draw = 0
    while len(out) < count:
        rng = random.Random(seed * 1_000_003 + draw)
        draw += 1
        gen = Gen(rng)
        depth = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
        if rng.random() < 0.08:
            body, valid = gen.recursive_tree()
        else:
            body, valid = gen.obj(depth)
        schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", **body}
        if gen.defs:
            schema["$defs"] = gen.defs
        if rng.random() < 0.05:
            schema["if"] = {"properties": {"kind": {"const": "x"}}}  # trivially satisfied shapes
            schema["then"] = {"type": "object"}
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        try:
            good = [v for v in valid if validator.is_valid(v)]
        except (jsonschema.exceptions.SchemaError, jsonschema.exceptions.RefResolutionError):
            continue
        if not good:
            continue
        out.append({"name": f"gen-{len(out):03d}-d{depth}", "schema": schema, "valid": _dedupe(good)})
    return out


def _dedupe(values: list[Any]) -> list[Any]:
    seen: list[str] = []
    out = []
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.append(key)
            out.append(v)
    return out


def hand_written() -> list[dict[str, Any]]:
    """The tricky schemas committed under ``bench/schemas_corpus/``."""
    out = []
    for path in sorted((HERE / "schemas_corpus").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.append({"name": f"tricky-{path.stem}", "schema": data["schema"], "valid": data["valid"]})
    return out


def bundled() -> list[dict[str, Any]]:
    """The JSON task sets' schemas, with their gold answers as valid instances."""
    out = []
    for path in sorted((ROOT / "src" / "formbound" / "tasksets").glob("*/schema.json")):
        spec = json.loads((path.parent / "spec.json").read_text(encoding="utf-8"))
        if spec.get("format") != "json":
            continue
        lines = (path.parent / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
        gold = [json.loads(line)["gold"] for line in lines if line.strip()][:4]
        out.append(
            {
                "name": f"bundled-{path.parent.name}",
                "schema": json.loads(path.read_text("utf-8")),
                "valid": gold,
            }
        )
    return out


def corpus(count: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """Bundled + hand-written + ``count`` generated schemas."""
    return bundled() + hand_written() + generate(count, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder to write one JSON file per schema into"
    )
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    items = corpus(args.count, args.seed)
    for item in items:
        (args.out / f"{item['name']}.json").write_text(json.dumps(item, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(items)} schemas to {args.out}")


if __name__ == "__main__":
    main()
