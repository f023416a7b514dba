"""The fine-tuning dataset builder: sources, dedup, no test leakage, the card, loading with `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from formbound import Spec
from formbound.errors import ConfigError
from formbound.escalate.dataset import (
    Distilled,
    augment_by_substitution,
    build_dataset,
    card_path,
    load_records,
    normalize_input,
    write_atomic,
)
from formbound.measure.tasks import Task, TaskSet

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 2}, "age": {"type": ["integer", "null"]}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def _task(i: int, name: str, age: int | None, split: str, gold: object = "auto") -> Task:
    text = f"Meet {name}, aged {age} years." if age is not None else f"Meet {name}."
    g = {"name": name, "age": age} if gold == "auto" else gold
    return Task(id=f"p-{i:03d}", input=text, gold=g, split=split)


def _task_set(tasks: list[Task]) -> TaskSet:
    return TaskSet(
        name="people",
        path=Path("people"),
        spec=Spec.json(SCHEMA),
        instruction="Extract the person as JSON.",
        max_new_tokens=64,
        tasks=tasks,
    )


@pytest.fixture()
def ts() -> TaskSet:
    return _task_set(
        [
            _task(1, "Ada Lovelace", 36, "train"),
            _task(2, "Bob Stone", 41, "test"),
            _task(3, "Cyra Moon", 22, "train"),
            _task(4, "Dan Wood", 50, "train"),
            _task(5, "Eve Night", None, "test"),
            _task(6, "Fay Hill", 28, "train", gold={"name": "F", "age": 28}),  # invalid gold (minLength)
            _task(7, "Gus Vale", 33, "train", gold=None),  # no gold
        ]
    )


def test_gold_records_use_raw_prompt_and_canonical_answer(ts: TaskSet, tmp_path: Path) -> None:
    from formbound.prompts import build_messages

    card = build_dataset(ts, tmp_path / "train.jsonl")
    records = load_records(tmp_path / "train.jsonl")
    assert card.records == len(records) == 3
    by_id = {r["id"]: r for r in records}
    rec = by_id["p-001"]
    expected = build_messages(
        ts.spec, "Meet Ada Lovelace, aged 36 years.", instruction=ts.instruction, style="raw"
    )
    assert rec["messages"][:-1] == expected
    assert rec["messages"][-1] == {
        "role": "assistant",
        "content": ts.spec.dump({"name": "Ada Lovelace", "age": 36}),
    }
    assert card.sources["gold"]["invalid"] == 1  # the gold that breaks minLength is counted, not used
    assert card.sources["gold"]["offered"] == 4


def test_test_items_never_enter_by_id_or_by_input(ts: TaskSet, tmp_path: Path) -> None:
    distilled = [
        Distilled("p-002", "Meet Bob Stone, aged 41 years.", '{"name": "Bob Stone", "age": 41}'),  # test id
        Distilled(
            "x-900", "Meet  bob stone, aged 41 years. ", '{"name": "Bob Stone", "age": 41}'
        ),  # test text
        Distilled("p-007", "Meet Gus Vale, aged 33 years.", '{"name": "Gus Vale", "age": 33}'),  # ok, no gold
    ]
    card = build_dataset(ts, tmp_path / "train.jsonl", distilled=distilled, augment=30, seed=1)
    records = load_records(tmp_path / "train.jsonl")
    test_inputs = {normalize_input(t.input) for t in ts.tasks if t.split == "test"}
    for rec in records:
        assert not rec["id"].startswith(("p-002", "p-005"))
        user = normalize_input(rec["messages"][0]["content"])
        assert not any(t in user for t in test_inputs)
    assert card.sources["distilled"]["test_excluded"] == 2
    assert card.sources["distilled"]["kept"] == 1
    assert card.test_ids == 2


def test_distilled_outputs_must_validate_and_match_gold(ts: TaskSet, tmp_path: Path) -> None:
    distilled = [
        Distilled(
            "p-001", "Meet Ada Lovelace, aged 36 years.", '{"name": "Ada Lovelace", "age": 35}'
        ),  # != gold
        Distilled("p-007", "Meet Gus Vale, aged 33 years.", '{"name": "Gus Vale"}'),  # invalid: no age
        Distilled(
            "p-003", "Meet Cyra Moon, aged 22 years.", '```json\n{"name": "Cyra Moon", "age": 22}\n```'
        ),
    ]
    card = build_dataset(ts, tmp_path / "train.jsonl", distilled=distilled)
    counts = card.sources["distilled"]
    assert (counts["mismatched"], counts["invalid"]) == (1, 1)
    # the repaired, matching output duplicates the gold record of p-003: dedup keeps the gold one
    assert counts["duplicate"] == 1 and counts["kept"] == 0
    assert counts["validity"] == pytest.approx(2 / 3, abs=1e-3)


def test_dedup_by_input_text(tmp_path: Path) -> None:
    ts = _task_set(
        [
            _task(1, "Ada Lovelace", 36, "train"),
            Task(
                id="p-002",
                input="meet ada lovelace,   aged 36 years.",
                gold={"name": "Ada Lovelace", "age": 36},
                split="train",
            ),
            _task(3, "Bob Stone", 41, "test"),
        ]
    )
    card = build_dataset(ts, tmp_path / "train.jsonl")
    assert card.records == 1
    assert card.sources["gold"]["duplicate"] == 1


def test_augmentation_swaps_values_consistently_and_only_from_given_items() -> None:
    items = [
        Task("a", "Meet Ada Lovelace, aged 36 years.", {"name": "Ada Lovelace", "age": 36}, "train"),
        Task("b", "Meet Bob Stone, aged 41 years.", {"name": "Bob Stone", "age": 41}, "train"),
        Task("c", "Meet Cyra Moon, aged 22 years.", {"name": "Cyra Moon", "age": 22}, "train"),
    ]
    new = augment_by_substitution(items, 5, seed=3)
    assert new and len(new) <= 5
    names = {"Ada Lovelace", "Bob Stone", "Cyra Moon"}
    originals = {normalize_input(i.input) for i in items}
    for it in new:
        assert it.split == "train" and "~t" in it.id
        assert it.gold["name"] in names and it.gold["age"] in (36, 41, 22)
        assert it.input == f"Meet {it.gold['name']}, aged {it.gold['age']} years."
        assert normalize_input(it.input) not in originals
    assert len({i.input for i in new}) == len(new)
    assert augment_by_substitution(items, 5, seed=3) == new  # seeded


def test_card_written_with_hashes_and_token_lengths(ts: TaskSet, tmp_path: Path) -> None:
    from _tiny import tiny_tokenizer

    out = tmp_path / "d" / "train.jsonl"
    card = build_dataset(ts, out, augment=4, tokenizer=tiny_tokenizer())
    written = json.loads(card_path(out).read_text())
    assert written == json.loads(json.dumps(card.to_dict()))
    assert written["spec_hash"] == ts.spec.hash
    import hashlib

    assert written["dataset_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    lengths = written["token_lengths"]
    assert 0 < lengths["answer"]["min"] <= lengths["answer"]["max"]
    assert lengths["total"]["max"] == pytest.approx(max(lengths["total"]["max"], lengths["prompt"]["max"]))
    assert sum(s["kept"] for s in written["sources"].values()) == written["records"]
    assert not list(out.parent.glob(".*tmp"))  # atomic write leaves no temp file


def test_loads_with_datasets(ts: TaskSet, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    build_dataset(ts, tmp_path / "train.jsonl", augment=4)
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "train.jsonl"), split="train")
    assert "messages" in ds.column_names
    assert ds[0]["messages"][-1]["role"] == "assistant"


def test_no_train_items_is_an_error(tmp_path: Path) -> None:
    ts = _task_set([_task(1, "Ada Lovelace", 36, "test")])
    with pytest.raises(ConfigError, match="no items with split 'train'"):
        build_dataset(ts, tmp_path / "train.jsonl")


def test_write_atomic_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_atomic(target, "old")

    with pytest.raises(TypeError):
        write_atomic(target, object())  # type: ignore[arg-type]  # fails while writing the temp file
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_load_records_rejects_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "x"}]}\n')
    with pytest.raises(ConfigError, match="assistant turn"):
        load_records(p)
