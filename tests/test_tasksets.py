"""Checks on the bundled task sets under ``src/formbound/tasksets/``.

Every folder must follow the task-set format (see ``src/formbound/tasksets/README.md``): a
``spec.json`` that builds a :class:`formbound.Spec`, a ``tasks.jsonl`` whose gold answers are valid for
that spec, a fixed and balanced train/test split, and — for SQL sets — gold queries that run on the
database built from ``schema.sql`` and ``data.sql`` and return a non-empty, deterministic result.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from formbound import EnforcementError, Spec

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "src" / "formbound" / "tasksets"

#: The bundled sets and the least number of tasks each must hold.
EXPECTED_SETS: dict[str, tuple[str, int]] = {
    "contacts": ("json", 30),
    "events": ("json", 30),
    "products": ("json", 30),
    "service_config": ("yaml", 40),
    "shop_sql": ("sql", 40),
}
JSON_EXTRACTION_SETS = ("contacts", "events", "products")
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def all_sets() -> list[str]:
    return sorted(p.parent.name for p in SCHEMAS_DIR.glob("*/spec.json"))


def sets_of(fmt: str) -> list[str]:
    return [name for name in all_sets() if load_spec_json(name)["format"] == fmt]


@functools.cache
def load_spec_json(name: str) -> dict[str, Any]:
    data = json.loads((SCHEMAS_DIR / name / "spec.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name}/spec.json must hold a JSON object"
    return data


@functools.cache
def load_tasks(name: str) -> tuple[dict[str, Any], ...]:
    text = (SCHEMAS_DIR / name / "tasks.jsonl").read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        assert line.strip(), f"{name}/tasks.jsonl line {number} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"{name}/tasks.jsonl line {number} is not an object"
        rows.append(row)
    return tuple(rows)


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    schema_ref = load_spec_json(name)["schema"]
    assert isinstance(schema_ref, str), f"{name}/spec.json: 'schema' should name the schema file"
    data = json.loads((SCHEMAS_DIR / name / schema_ref).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """The value at a JSON pointer (RFC 6901); KeyError/IndexError when it does not exist."""
    if pointer == "":
        return doc
    assert pointer.startswith("/"), f"JSON pointer {pointer!r} must start with '/'"
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def null_pointers(doc: Any, prefix: str = "") -> list[str]:
    """JSON pointers of every null inside ``doc``."""
    if doc is None:
        return [prefix]
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return []
    found: list[str] = []
    for key, value in items:
        token = str(key).replace("~", "~0").replace("/", "~1")
        found.extend(null_pointers(value, f"{prefix}/{token}"))
    return found


# --------------------------------------------------------------------------- every set


def test_expected_sets_are_bundled() -> None:
    present = set(all_sets())
    for name, (fmt, least) in EXPECTED_SETS.items():
        assert name in present, f"bundled task set {name}/ is missing"
        assert load_spec_json(name)["format"] == fmt
        assert len(load_tasks(name)) >= least, f"{name} has fewer than {least} tasks"
    json_total = sum(len(load_tasks(n)) for n in JSON_EXTRACTION_SETS)
    assert json_total >= 90


@pytest.mark.parametrize("name", all_sets())
def test_spec_json_is_well_formed(name: str) -> None:
    data = load_spec_json(name)
    assert data["format"] in ("json", "yaml", "sql")
    task = data.get("task")
    assert isinstance(task, dict), f"{name}/spec.json needs a 'task' object"
    assert isinstance(task.get("instruction"), str) and task["instruction"].strip()
    assert isinstance(task.get("max_new_tokens"), int) and 16 <= task["max_new_tokens"] <= 512
    if data["format"] in ("json", "yaml"):
        assert (SCHEMAS_DIR / name / data["schema"]).is_file()
    else:
        assert data.get("dialect") == "sqlite"
        assert (SCHEMAS_DIR / name / data["ddl"]).is_file()
        assert (SCHEMAS_DIR / name / "data.sql").is_file()


def gold_text(fmt: str, gold: Any) -> str:
    """Gold as the text a model should produce: compact JSON, block-style YAML, or the SQL itself."""
    if fmt == "sql":
        assert isinstance(gold, str)
        return gold
    if fmt == "yaml":
        import io

        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        buffer = io.StringIO()
        yaml.dump(gold, buffer)
        return buffer.getvalue()
    return json.dumps(gold, ensure_ascii=False)


@pytest.mark.parametrize("name", all_sets())
def test_spec_builds_and_accepts_gold(name: str) -> None:
    data = dict(load_spec_json(name))
    data.pop("task")
    module = f"formbound.formats.{data['format']}"
    try:
        importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} is not importable yet ({exc}); the spec cannot be built without it")
    spec = Spec.from_dict(data, base_dir=SCHEMAS_DIR / name)
    assert spec.format == data["format"]
    for row in load_tasks(name):
        text = gold_text(data["format"], row["gold"])
        try:
            value = spec.check(text)
        except EnforcementError as exc:
            pytest.fail(f"{name}: gold of {row['id']} fails its own spec: {exc}")
        if data["format"] != "sql":
            assert value == row["gold"], row["id"]


@pytest.mark.parametrize("name", all_sets())
def test_task_lines(name: str) -> None:
    rows = load_tasks(name)
    ids = [row.get("id") for row in rows]
    assert len(set(ids)) == len(ids), f"{name}: duplicate ids"
    allowed = {"id", "input", "gold", "split", "missing", "notes"}
    for row in rows:
        assert {"id", "input", "gold", "split"} <= row.keys(), f"{name}: {row.get('id')} lacks a key"
        assert row.keys() <= allowed, f"{name}: {row['id']} has unknown keys {row.keys() - allowed}"
        assert re.fullmatch(rf"{re.escape(name)}-\d{{3}}", row["id"]), row["id"]
        assert isinstance(row["input"], str) and row["input"].strip()
        assert row["split"] in ("train", "test")
        assert "notes" not in row or isinstance(row["notes"], str)


@pytest.mark.parametrize("name", all_sets())
def test_split_is_balanced(name: str) -> None:
    rows = load_tasks(name)
    train = sum(1 for row in rows if row["split"] == "train")
    test = len(rows) - train
    assert train > 0 and test > 0
    assert abs(train - test) <= max(2, len(rows) // 10), f"{name}: {train} train vs {test} test"


@pytest.mark.parametrize("name", all_sets())
def test_inputs_are_not_duplicated(name: str) -> None:
    seen: dict[str, str] = {}
    for row in load_tasks(name):
        key = " ".join(row["input"].lower().split())
        assert key not in seen, f"{name}: {row['id']} repeats the input of {seen[key]}"
        seen[key] = row["id"]


# ------------------------------------------------------------------------ JSON / YAML


@pytest.mark.parametrize("name", sets_of("json") + sets_of("yaml"))
def test_schema_is_documented(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema.get("$schema") == DRAFT_2020_12
    assert schema.get("title") and schema.get("description")

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" or "properties" in node:
            assert node.get("additionalProperties") is False, f"{name}: {path or '/'} allows extra keys"
            assert set(node.get("required", [])) <= set(node["properties"])
            for key, sub in node["properties"].items():
                assert sub.get("description"), f"{name}: {path}/{key} has no description"
                walk(sub, f"{path}/{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}/items")

    walk(schema, "")


@pytest.mark.parametrize("name", sets_of("json") + sets_of("yaml"))
def test_gold_validates_against_schema(name: str) -> None:
    validator = Draft202012Validator(load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)
    for row in load_tasks(name):
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(row["gold"])
        ]
        assert not errors, f"{name}: gold of {row['id']} is invalid: {errors}"


@pytest.mark.parametrize("name", sets_of("json") + sets_of("yaml"))
def test_missing_pointers_match_null_gold(name: str) -> None:
    for row in load_tasks(name):
        missing = row.get("missing", [])
        assert isinstance(missing, list)
        for pointer in missing:
            assert resolve_pointer(row["gold"], pointer) is None, f"{name}: {row['id']} {pointer} is not null"
        # The reverse holds too: a null in gold always means the input does not say.
        assert sorted(missing) == sorted(null_pointers(row["gold"])), row["id"]


@pytest.mark.parametrize("name", JSON_EXTRACTION_SETS)
def test_missing_information_items_in_both_splits(name: str) -> None:
    rows = load_tasks(name)
    with_missing = [row for row in rows if row.get("missing")]
    assert 0.10 <= len(with_missing) / len(rows) <= 0.25, f"{name}: {len(with_missing)}/{len(rows)}"
    assert {row["split"] for row in with_missing} == {"train", "test"}


@pytest.mark.parametrize("name", sets_of("yaml"))
def test_yaml_gold_round_trips(name: str) -> None:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    for row in load_tasks(name):
        buffer = io.StringIO()
        yaml.dump(row["gold"], buffer)
        assert yaml.load(buffer.getvalue()) == row["gold"], row["id"]


# ------------------------------------------------------------------------------ SQL


def build_database(folder: Path, target: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(target)
    conn.executescript((folder / load_spec_json(folder.name)["ddl"]).read_text(encoding="utf-8"))
    conn.executescript((folder / "data.sql").read_text(encoding="utf-8"))
    conn.commit()
    return conn


@pytest.mark.parametrize("name", sets_of("sql"))
def test_sql_gold_runs_and_returns_rows(name: str, tmp_path: Path) -> None:
    import sqlglot

    conn = build_database(SCHEMAS_DIR / name, tmp_path / "db.sqlite")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert 4 <= len(tables) <= 6, tables
    for table in tables:
        count = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        assert count >= 5, f"{name}: table {table} has only {count} rows"
    try:
        for row in load_tasks(name):
            sql = row["gold"]
            assert isinstance(sql, str)
            tree = sqlglot.parse_one(sql, read="sqlite")
            assert isinstance(tree, (sqlglot.exp.Select, sqlglot.exp.Union)), f"{row['id']} is not a query"
            if tree.args.get("limit") is not None:
                assert tree.args.get("order") is not None, f"{row['id']}: LIMIT without ORDER BY"
            result = conn.execute(sql).fetchall()
            assert result, f"{name}: gold of {row['id']} returns no rows"
            assert any(v is not None for r in result for v in r), f"{row['id']} returns only NULLs"
    finally:
        conn.close()
