"""Teacher distillation and the dataset's quality controls, with a scripted in-process teacher."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests._measure_fakes import write_task_set
from tests.test_openai_compat import llama_server as llama_server

from formbound.escalate.dataset import build_dataset, card_path, load_records
from formbound.escalate.quality import QualityOptions, near_duplicate_of, near_key
from formbound.escalate.teacher import TeacherOptions, TeacherRejected
from formbound.measure import load_task_set
from formbound.models.base import Generation, Model

UNLABELLED = [f"{name} is {age}." for name, age in [("Dan", 44), ("Eve", 23), ("Fay", 61), ("Gus", 38)]]


class Teacher(Model):
    """Answers ``"X is N."`` with ``{"name": X, "age": N + shift}``; scripted per input and per seed."""

    def __init__(
        self, name: str = "scripted", shift: int = 0, by_seed: dict[int, dict[str, str]] | None = None
    ):
        self.name = name
        self.shift = shift
        self.by_seed = by_seed or {}
        self.seeds: list[int | None] = []

    def generate(self, prompts: Sequence[Any], **kw: Any) -> list[Generation]:
        self.seeds.append(kw.get("seed"))
        out: list[Generation] = []
        for messages in prompts:
            user = next(m["content"] for m in messages if m["role"] == "user")
            m = re.search(r"(\w+)\s+is\s+(\d+)[.!]?", user)
            assert m is not None
            text = json.dumps({"name": m.group(1), "age": int(m.group(2)) + self.shift})
            text = self.by_seed.get(kw.get("seed") or 0, {}).get(m.group(0), text)
            out.append(Generation(text, 10, 5, 0.01, "stop"))
        return out


@pytest.fixture
def task_set(tmp_path: Path) -> Any:
    return load_task_set(str(write_task_set(tmp_path / "persons")))


def test_teacher_labels_unlabelled_inputs_with_its_source(task_set: Any, tmp_path: Path) -> None:
    card = build_dataset(task_set, tmp_path / "train.jsonl", teacher=Teacher(), inputs=UNLABELLED)
    src = card.sources["teacher:scripted"]
    assert src["kept"] == 4 and src["offered"] == 4
    assert card.teacher is not None and card.teacher["accuracy"] == 1.0 and card.teacher["scored"] == 3
    assert card.note is not None and "validity 1.00, accuracy 1.00" in card.note  # shown in decision.md
    records = load_records(tmp_path / "train.jsonl")
    taught = [r for r in records if r["source"] == "teacher:scripted"]
    assert {r["messages"][-1]["content"] for r in taught} >= {'{"name": "Dan", "age": 44}'}
    assert json.loads(card_path(tmp_path / "train.jsonl").read_text())["shares"]["teacher:scripted"] > 0


def test_test_inputs_and_near_duplicates_never_enter(task_set: Any, tmp_path: Path) -> None:
    # test inputs are "Ada is 36.", "Bob is 41." ...: given verbatim, reformatted and re-punctuated
    inputs = ["Ada is 36.", "  ada   IS 36. ", "Bob is 41!", *UNLABELLED[:1]]
    card = build_dataset(task_set, tmp_path / "train.jsonl", teacher=Teacher(), inputs=inputs)
    assert card.sources["teacher:scripted"]["test_excluded"] == 3
    texts = [r["messages"][-2]["content"] for r in load_records(tmp_path / "train.jsonl")]
    assert not any("Ada" in t or "Bob" in t for t in texts)


def test_inaccurate_teacher_is_refused_with_the_numbers(task_set: Any, tmp_path: Path) -> None:
    with pytest.raises(TeacherRejected, match=r"accuracy 0\.50 .*3 gold train items.*0\.80") as info:
        build_dataset(task_set, tmp_path / "t.jsonl", teacher=Teacher(shift=1), inputs=UNLABELLED)
    assert info.value.report.validity == 1.0
    assert not (tmp_path / "t.jsonl").exists()
    # a lower floor accepts it
    card = build_dataset(
        task_set,
        tmp_path / "t.jsonl",
        teacher=Teacher(shift=1),
        inputs=UNLABELLED,
        teacher_options=TeacherOptions(min_accuracy=0.5),
    )
    assert card.teacher is not None and card.teacher["accuracy"] == 0.5


def test_invalid_teacher_answers_are_dropped_by_reason(task_set: Any, tmp_path: Path) -> None:
    bad = {0: {"Eve is 23.": '{"name": "Eve"}', "Fay is 61.": "not json at all"}}
    card = build_dataset(task_set, tmp_path / "t.jsonl", teacher=Teacher(by_seed=bad), inputs=UNLABELLED)
    src = card.sources["teacher:scripted"]
    assert src["dropped"] == {"invalid": 2} and src["kept"] == 2


def test_self_consistency_keeps_the_majority_and_drops_splits(task_set: Any, tmp_path: Path) -> None:
    # seed 1 disagrees on Dan (2 of 3 still agree), seeds 1 and 2 disagree on Eve with different answers
    by_seed = {
        1: {"Dan is 44.": '{"name": "Dan", "age": 45}', "Eve is 23.": '{"name": "Eve", "age": 24}'},
        2: {"Eve is 23.": '{"name": "Eve", "age": 25}'},
    }
    teacher = Teacher(by_seed=by_seed)
    opts = TeacherOptions(samples=3, temperature=0.8)
    card = build_dataset(
        task_set, tmp_path / "t.jsonl", teacher=teacher, inputs=UNLABELLED, teacher_options=opts
    )
    assert {0, 1, 2} <= set(teacher.seeds)
    src = card.sources["teacher:scripted"]
    assert src["dropped"] == {"no_majority": 1} and src["kept"] == 3
    answers = {r["messages"][-1]["content"] for r in load_records(tmp_path / "t.jsonl")}
    assert '{"name": "Dan", "age": 44}' in answers and not any('"Eve"' in a for a in answers)


def test_second_teacher_must_agree(task_set: Any, tmp_path: Path) -> None:
    second = Teacher("other", by_seed={0: {"Gus is 38.": '{"name": "Gus", "age": 83}'}})
    opts = TeacherOptions(second=second)
    card = build_dataset(
        task_set, tmp_path / "t.jsonl", teacher=Teacher(), inputs=UNLABELLED, teacher_options=opts
    )
    assert card.sources["teacher:scripted"]["dropped"] == {"disagreement": 1}
    assert card.sources["teacher:scripted"]["kept"] == 3


def test_self_consistency_needs_sampling() -> None:
    with pytest.raises(Exception, match="temperature > 0"):
        TeacherOptions(samples=3, temperature=0.0)


def test_cap_per_source_and_dev_slice(task_set: Any, tmp_path: Path) -> None:
    inputs = [f"P{k} is {20 + k}." for k in range(40)]
    quality = QualityOptions(cap_ratio=5, min_cap=0, dev_fraction=0.25, min_dev=4)
    card = build_dataset(
        task_set, tmp_path / "train.jsonl", teacher=Teacher(), inputs=inputs, quality=quality
    )
    src = card.sources["teacher:scripted"]
    assert card.cap_per_source == 15 and src["kept"] == 15 and src["capped"] == 25
    assert card.dev is not None and card.dev["records"] == 3
    dev = load_records(tmp_path / "dev.jsonl")
    train = load_records(tmp_path / "train.jsonl")
    assert len(dev) == 3 and all(r["source"] != "gold" for r in dev)
    assert len(train) == card.records == 18 - 3
    assert {r["id"] for r in dev}.isdisjoint(r["id"] for r in train)
    assert sum(card.shares.values()) == pytest.approx(1.0, abs=1e-3)


def test_near_duplicates_are_removed(task_set: Any, tmp_path: Path) -> None:
    inputs = ["Dan is 44.", "dan is 44!", "Dan  is 44"]
    card = build_dataset(task_set, tmp_path / "t.jsonl", teacher=Teacher(), inputs=inputs)
    src = card.sources["teacher:scripted"]
    assert src["kept"] == 1 and src["duplicate"] + src["near_duplicate"] == 2


def test_near_duplicate_keys() -> None:
    assert near_key("Ann, is  30!") == near_key("ann is 30")
    test = ["Which customers live in France? Give their names and cities."]
    assert near_duplicate_of("which customers live in france, give their names and the cities", test)
    assert not near_duplicate_of("Which customers live in Spain?", ["Which customers live in France?"])


# ------------------------------------------------------------------------ served teachers (HTTP)
def test_a_served_teacher_labels_through_the_openai_client(task_set: Any, tmp_path: Path) -> None:
    from tests._openai_fake import FakeServer, Reply, default_reply

    from formbound.models.openai_compat import OpenAICompatModel

    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        if not path.endswith("/chat/completions"):
            return default_reply(path, body)
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        m = re.search(r"(\w+) is (\d+)", user)
        assert m is not None
        text = json.dumps({"name": m.group(1), "age": int(m.group(2))})
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        return Reply(
            body={"id": "x", "choices": [choice], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
        )

    server = FakeServer()
    server.behave = behave
    try:
        teacher = OpenAICompatModel("served-model", base_url=server.url, timeout_s=5.0, backoff_s=0.01)
        card = build_dataset(task_set, tmp_path / "t.jsonl", teacher=teacher, inputs=UNLABELLED)
    finally:
        server.close()
    name = next(k for k in card.sources if k.startswith("teacher:"))
    assert card.sources[name]["kept"] == 4 and card.teacher is not None and card.teacher["accuracy"] == 1.0
    assert any(b.get("response_format") for b in server.bodies)  # constrained where the server can


@pytest.mark.real_model
def test_real_llama_cpp_server_as_teacher(task_set: Any, tmp_path: Path, llama_server: str) -> None:
    from formbound.enforce import enforce
    from formbound.models.openai_compat import OpenAICompatModel

    teacher = OpenAICompatModel("smollm2", base_url=llama_server, max_concurrency=2, timeout_s=120)
    opts = TeacherOptions(min_accuracy=0.0)
    card = build_dataset(
        task_set, tmp_path / "t.jsonl", teacher=teacher, inputs=UNLABELLED, teacher_options=opts
    )
    assert card.teacher is not None and card.teacher["scored"] == 3 and card.teacher["validity"] is not None
    print(f"\nllama-cpp-python teacher on persons: {card.teacher}")
    for rec in load_records(tmp_path / "t.jsonl"):
        if rec["source"].startswith("teacher:"):
            enforce(rec["messages"][-1]["content"], task_set.spec, repair=False)
