"""Task sets (line-numbered errors, splits, gold checks, the SQL database cache) and strategy parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _measure_fakes import TASKS, write_task_set
from formbound._util import cache_root
from formbound.errors import ConfigError, SpecError
from formbound.measure import RUNGS, load_task_set, parse_strategies, parse_strategy
from formbound.measure.strategies import DEFAULT_REASKS, choose_examples
from formbound.measure.tasks import DEFAULT_INSTRUCTIONS


def test_load_task_set(tmp_path: Path) -> None:
    ts = load_task_set(write_task_set(tmp_path / "people"))
    assert (ts.name, ts.format, ts.instruction, ts.max_new_tokens) == (
        "people",
        "json",
        "Extract the person as JSON.",
        32,
    )
    assert [t.id for t in ts.split("test")] == ["p-04", "p-05", "p-06", "p-07"]
    assert len(ts.split("all")) == len(TASKS)
    assert ts.splits == ["train", "test"]
    assert ts.get("p-04").gold == {"name": "Ada", "age": 36}
    assert ts.get("p-04").line == 4
    assert ts.database is None
    assert ts.check() == []
    assert json.loads(ts.gold_text(ts.get("p-04"))) == {"name": "Ada", "age": 36}


def test_defaults_when_spec_has_no_task_block(tmp_path: Path) -> None:
    folder = write_task_set(tmp_path / "people")
    spec = json.loads((folder / "spec.json").read_text())
    del spec["task"]
    (folder / "spec.json").write_text(json.dumps(spec))
    ts = load_task_set(folder)
    assert ts.instruction == DEFAULT_INSTRUCTIONS["json"]
    assert ts.max_new_tokens > 0


def test_hash_changes_with_the_tasks(tmp_path: Path) -> None:
    a = load_task_set(write_task_set(tmp_path / "a"))
    tasks = [dict(t) for t in TASKS]
    tasks[0]["input"] = "Ann is 31."
    b = load_task_set(write_task_set(tmp_path / "b", tasks))
    assert a.hash != b.hash
    assert a.hash == load_task_set(tmp_path / "a").hash


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"tasks.jsonl line 3: not valid JSON"),
        ("[1, 2]", r"line 3: expected a JSON object"),
        ('{"id": "x", "input": "y"}', r"line 3: missing key\(s\) gold"),
        ('{"id": "p-01", "input": "y", "gold": {}}', r"line 3: duplicate id 'p-01' \(first on line 1\)"),
        ('{"id": "", "input": "y", "gold": {}}', r"line 3: 'id' must be a non-empty string"),
        ('{"id": "z", "input": "  ", "gold": {}}', r"line 3: 'input' of 'z' must be a non-empty string"),
        ('{"id": "z", "input": "y", "gold": {}, "missing": "/a"}', r"line 3: 'missing' of 'z'"),
    ],
)
def test_malformed_lines_name_their_line(tmp_path: Path, line: str, message: str) -> None:
    folder = write_task_set(tmp_path / "people", TASKS[:2])
    with (folder / "tasks.jsonl").open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_task_set(folder)


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_task_set(tmp_path / "nope")
    folder = write_task_set(tmp_path / "people")
    (folder / "tasks.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"tasks\.jsonl' does not exist"):
        load_task_set(folder)
    (folder / "spec.json").write_text('{"format": "jsno", "schema": "schema.json"}')
    with pytest.raises(SpecError, match="did you mean 'json'"):
        load_task_set(folder)
    (folder / "spec.json").write_text('{"format": "json",\n "schema": }')
    with pytest.raises(ConfigError, match=r"spec\.json line 2"):
        load_task_set(folder)


def test_bad_max_new_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_new_tokens must be a positive integer"):
        load_task_set(write_task_set(tmp_path / "p", max_new_tokens=0))


def test_check_reports_gold_that_fails_its_spec(tmp_path: Path) -> None:
    tasks = [*TASKS, {"id": "bad", "input": "Zed", "gold": {"name": "Zed"}, "split": "test"}]
    ts = load_task_set(write_task_set(tmp_path / "p", tasks))
    problems = ts.check()
    assert len(problems) == 1 and "'bad'" in problems[0] and "line 8" in problems[0]


def test_sql_database_is_built_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORMBOUND_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "schema.sql").write_text(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL);\n"
    )
    (folder / "data.sql").write_text("INSERT INTO items VALUES (1, 'pen', 1.5), (2, 'ink', 3.0);\n")
    (folder / "spec.json").write_text(json.dumps({"format": "sql", "dialect": "sqlite", "ddl": "schema.sql"}))
    rows = [
        {"id": "s-1", "input": "How many items?", "gold": "SELECT COUNT(*) FROM items", "split": "test"},
        {
            "id": "s-2",
            "input": "Name of the pen?",
            "gold": "SELECT name FROM items WHERE name = 'pen'",
            "split": "train",
        },
    ]
    (folder / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ts = load_task_set(folder)
    db = ts.database
    assert db is not None and db.exists() and db.parent.parent == cache_root()
    assert load_task_set(folder).database == db  # same content, same file
    assert ts.check() == []
    (folder / "data.sql").write_text("INSERT INTO items VALUES (1, 'pen', 1.5);\n")
    assert load_task_set(folder).database != db  # changed data, new database
    bad = [{"id": "s-3", "input": "?", "gold": {"not": "sql"}, "split": "test"}]
    (folder / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(ConfigError, match="must be a SQL string"):
        load_task_set(folder)


# ---------------------------------------------------------------------------------------- strategies
def test_parse_strategies() -> None:
    got = parse_strategies("raw, prompted,repaired,reask,constrained")
    assert [s.name for s in got] == ["raw", "prompted", "repaired", "reask", "constrained"]
    assert got[0].style == "raw" and not got[0].repair
    assert not got[1].repair and got[2].repair
    assert got[3].reasks == DEFAULT_REASKS and got[3].repair
    assert got[4].constrained and not got[4].repair
    assert parse_strategy("reask:5").reasks == 5
    assert parse_strategies(["raw", RUNGS["constrained"]])[1] is RUNGS["constrained"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rwa", "did you mean 'raw'"),
        ("constrianed", "did you mean 'constrained'"),
        ("reask:x", "must be an integer"),
        ("reask:-1", ">= 0"),
        ("adapter:", "needs an adapter folder"),
        ("adapter:no/such/dir", "does not exist"),
        ("raw,raw", "listed twice"),
        ("", "no strategies"),
    ],
)
def test_strategy_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_strategies(text)


def test_adapter_strategy(tmp_path: Path) -> None:
    plain = parse_strategy(f"adapter:{tmp_path}")
    assert (plain.adapter, plain.constrained, plain.style, plain.shots) == (
        str(tmp_path),
        False,
        "prompted",
        0,
    )
    both = parse_strategy(f"adapter:{tmp_path}+constrained")
    assert both.constrained and both.adapter == str(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({"prompt": {"style": "prompted", "shots": 2}}))
    assert parse_strategy(f"adapter:{tmp_path}").shots == 2


def test_choose_examples_only_from_train(tmp_path: Path) -> None:
    ts = load_task_set(write_task_set(tmp_path / "p"))
    train_ids = {t.id for t in ts.split("train")}
    for seed in range(5):
        chosen = choose_examples(ts, 2, seed)
        assert len(chosen) == 3 and {t.id for t in chosen} <= train_ids
        assert chosen == choose_examples(ts, 2, seed)
    assert choose_examples(ts, 0) == []
    no_train = load_task_set(write_task_set(tmp_path / "q", [t for t in TASKS if t["split"] == "test"]))
    assert choose_examples(no_train, 3) == []
