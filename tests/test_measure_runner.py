"""The strategy runner with a scripted fake model: rungs, batching, re-asks, adapters, cache and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _measure_fakes import FakeModel, write_task_set
from formbound.errors import ConfigError
from formbound.measure import Hooks, evaluate, load_task_set
from formbound.measure.runner import CACHE_FILE

STRATEGIES = "raw,prompted,repaired,reask,constrained"


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    return write_task_set(tmp_path / "people")


def _summary(report: object) -> dict[str, tuple[int, int, int, int, int]]:
    out = {}
    for name, m in report.metrics.items():  # type: ignore[attr-defined]
        out[name] = (m.syntax_valid.k, m.schema_valid.k, m.correct.k, m.truncated.k, m.reasks)
    return out


def test_each_rung_measures_what_it_promises(task_dir: Path) -> None:
    model = FakeModel()
    report = evaluate(model, task_dir, STRATEGIES, progress=False)
    # (syntax valid, schema valid, correct, truncated, re-asks) over the 4 test items
    assert _summary(report) == {
        "raw": (2, 2, 1, 1, 0),  # the fenced answer fails without repairs
        "prompted": (2, 2, 1, 1, 0),
        # the fence is repaired; the cut-off answer stays an error (truncation is never repaired by default)
        "repaired": (3, 3, 2, 1, 0),
        "reask": (4, 4, 3, 0, 1),  # one re-ask fixes the cut-off answer
        "constrained": (4, 4, 3, 0, 0),
    }
    assert all(m.n == 4 for m in report.metrics.values())
    # Greedy decoding: prompted, repaired and the first attempt of reask share one generation per item.
    # raw 4 + prompted 4 + one re-ask + constrained 4
    assert sum(len(c["prompts"]) for c in model.calls) == 13
    assert report.records_for("repaired")[0].texts == report.records_for("prompted")[0].texts
    assert report.records_for("repaired")[0].seconds == report.records_for("prompted")[0].seconds
    # Only the constrained rung passes a grammar, and it is the spec's own constraint.
    constrained_calls = [c for c in model.calls if c["constraint"] is not None]
    assert constrained_calls and all(
        c["constraint"] == load_task_set(task_dir).spec.constraint() for c in constrained_calls
    )
    assert len(constrained_calls) == 1  # 4 items, one batch
    assert all(c["max_new_tokens"] == 32 for c in model.calls)  # the task set's limit


def test_wrong_but_valid_answers_are_classified(task_dir: Path) -> None:
    report = evaluate(FakeModel(), task_dir, "constrained", progress=False)
    m = report.metrics["constrained"]
    assert m.wrong_causes == {"missing_information": 0, "behaviour": 1}  # 52 is in "Dee is 52."
    ex = m.wrong_examples["behaviour"]
    assert (ex["task"], ex["path"], ex["gold"], ex["pred"]) == ("p-07", "/age", 52, 25)
    assert m.field_accuracy == pytest.approx(7 / 8)
    assert m.per_field["/age"].k == 3


def test_error_records_carry_stage_kind_and_text(task_dir: Path) -> None:
    report = evaluate(FakeModel(), task_dir, "raw,repaired", progress=False)
    raw = {r.task_id: r for r in report.records_for("raw")}
    assert raw["p-05"].error is not None and raw["p-05"].error["stage"] == "syntax"
    assert raw["p-06"].truncated and raw["p-06"].texts[0].startswith('{"name": "Cy"')
    repaired = {r.task_id: r for r in report.records_for("repaired")}
    assert repaired["p-05"].schema_valid and repaired["p-05"].repairs
    assert repaired["p-05"].value == {"name": "Bob", "age": 41}
    assert not repaired["p-06"].syntax_valid
    assert (repaired["p-06"].error["stage"], repaired["p-06"].error["kind"]) == ("syntax", "truncated")
    assert report.metrics["raw"].errors[0].stage == "syntax"


def test_prompted_uses_train_examples_never_test(task_dir: Path) -> None:
    model = FakeModel()
    report = evaluate(model, task_dir, "prompted", progress=False, seed=3)
    ts = load_task_set(task_dir)
    train_inputs = {t.input for t in ts.split("train")}
    test_inputs = {t.input for t in ts.split("test")}
    for call in model.calls:
        for messages in call["prompts"]:
            shots = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
            assert shots and set(shots) <= train_inputs
            assert not set(shots) & test_inputs
    assert set(report.meta["few_shot_ids"]) <= {t.id for t in ts.split("train")}
    again = FakeModel()
    evaluate(again, task_dir, "prompted", progress=False, seed=3)
    assert again.calls[0]["prompts"] == model.calls[0]["prompts"]  # a fixed, seeded choice


def test_batching_limit_split_and_max_new_tokens(task_dir: Path) -> None:
    model = FakeModel()
    report = evaluate(model, task_dir, "raw", batch_size=2, progress=False, max_new_tokens=7)
    assert [len(c["prompts"]) for c in model.calls] == [2, 2]
    assert all(c["max_new_tokens"] == 7 for c in model.calls)
    assert report.meta["max_new_tokens"] == 7
    limited = evaluate(FakeModel(), task_dir, "raw", limit=2, seed=1, progress=False)
    assert limited.metrics["raw"].n == 2
    bigger = evaluate(FakeModel(), task_dir, "raw", limit=3, seed=1, progress=False)
    assert set(limited.meta["item_ids"]) <= set(bigger.meta["item_ids"])  # limits nest
    train = evaluate(FakeModel(), task_dir, "raw", split="train", progress=False)
    assert train.meta["item_ids"] == ["p-01", "p-02", "p-03"]
    with pytest.raises(ConfigError, match="did you mean 'test'"):
        evaluate(FakeModel(), task_dir, "raw", split="tset", progress=False)


def test_train_split_prompted_leaves_out_the_item_itself(task_dir: Path) -> None:
    model = FakeModel()
    evaluate(model, task_dir, "prompted", split="train", progress=False)
    for messages in model.calls[0]["prompts"]:
        shots = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
        assert messages[-1]["content"] not in shots
        assert len(shots) == 2  # 3 train items, minus the one being answered


def test_model_name_string_is_loaded(task_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import formbound.models

    seen: list[str] = []

    def fake_load(name: str, **_: object) -> FakeModel:
        seen.append(name)
        return FakeModel()

    monkeypatch.setattr(formbound.models, "load", fake_load)
    report = evaluate("some-model", task_dir, "raw", progress=False)
    assert seen == ["some-model"]
    assert report.meta["model"]["name"] == "fake"


def test_adapter_strategies_switch_the_adapter(task_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "metadata.json").write_text(json.dumps({"prompt": {"style": "raw", "shots": 0}}))
    model = FakeModel()
    report = evaluate(
        model, task_dir, ["raw", f"adapter:{adapter}", f"adapter:{adapter}+constrained"], progress=False
    )
    # each adapter rung switches its adapter on for its generations and off afterwards
    assert model.adapters == [str(adapter), None, str(adapter), None]
    assert report.meta["strategies"][f"adapter:{adapter}"]["style"] == "raw"
    assert report.metrics[f"adapter:{adapter}+constrained"].schema_valid.k == 4
    # The raw-style prompt recorded in the adapter's metadata is used: one user message.
    assert all(len(msgs) == 1 for msgs in model.calls[1]["prompts"])


def test_adapter_needs_a_switchable_model(task_dir: Path, tmp_path: Path) -> None:
    class Plain(FakeModel):
        set_adapter = None  # type: ignore[assignment]

    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="cannot switch LoRA adapters"):
        evaluate(Plain(), task_dir, f"adapter:{tmp_path / 'a'}", progress=False)


def test_interrupted_run_resumes_without_redoing_work(task_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    reference = evaluate(FakeModel(), task_dir, STRATEGIES, batch_size=1, progress=False)

    first = FakeModel(fail_after=7)
    with pytest.raises(KeyboardInterrupt):
        evaluate(first, task_dir, STRATEGIES, batch_size=1, out_dir=out, progress=False)
    lines = (out / CACHE_FILE).read_text().splitlines()
    assert len(lines) == 7  # one record per finished item, appended as it finished
    assert not (out / "report.json").exists()
    done = {(json.loads(line)["strategy"], json.loads(line)["task_id"]) for line in lines}

    second = FakeModel()
    resumed = evaluate(second, task_dir, STRATEGIES, batch_size=1, out_dir=out, progress=False)
    # A fresh run generates 13 prompts (see above); the resumed one only those not yet answered.
    assert len(first.calls) + len(second.calls) == 13
    cached_keys = {json.loads(x)["key"] for x in lines}
    assert {(r.strategy, r.task_id) for r in resumed.records if r.key in cached_keys} == done
    assert _summary(resumed) == _summary(reference)
    assert resumed.meta["generated_items"] == 13

    third = FakeModel()
    evaluate(third, task_dir, STRATEGIES, batch_size=1, out_dir=out, progress=False)
    assert third.calls == []  # everything cached


def test_cache_ignores_a_torn_last_line_and_changed_gold(task_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    evaluate(FakeModel(), task_dir, "raw", out_dir=out, progress=False)
    with (out / CACHE_FILE).open("a") as fh:
        fh.write('{"strategy": "raw", "task_id": "p-0')  # a write cut by a crash
    again = FakeModel()
    evaluate(again, task_dir, "raw", out_dir=out, progress=False)
    assert again.calls == []
    # Changing a gold answer invalidates that item's cached record only.
    from _measure_fakes import TASKS

    tasks = [dict(t) for t in TASKS]
    tasks[3]["gold"] = {"name": "Ada", "age": 37}
    write_task_set(task_dir, tasks)
    third = FakeModel()
    report = evaluate(third, task_dir, "raw", out_dir=out, progress=False)
    assert sum(len(c["prompts"]) for c in third.calls) == 1
    assert report.metrics["raw"].correct.k == 0


def test_hooks_see_every_event(task_dir: Path) -> None:
    hooks = Hooks()
    seen: dict[str, int] = {}
    for event in ("run_start", "strategy_start", "generate", "record", "strategy_end", "run_end"):
        hooks.on(event, lambda _e=event, **kw: seen.__setitem__(_e, seen.get(_e, 0) + 1))
    evaluate(FakeModel(), task_dir, "raw,reask", hooks=hooks, progress=False)
    assert seen == {
        "run_start": 1,
        "strategy_start": 2,
        "generate": 3,
        "record": 8,
        "strategy_end": 2,
        "run_end": 1,
    }
    with pytest.raises(ConfigError, match="did you mean 'record'"):
        hooks.on("recrod", print)


def test_progress_bar_writes_to_stderr(task_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluate(FakeModel(), task_dir, "raw", progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err


def test_bad_arguments(task_dir: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        evaluate(FakeModel(), task_dir, "raw", batch_size=0, progress=False)
    with pytest.raises(ConfigError, match="limit"):
        evaluate(FakeModel(), task_dir, "raw", limit=0, progress=False)
    with pytest.raises(ConfigError, match="did you mean 'prompted'"):
        evaluate(FakeModel(), task_dir, "promted", progress=False)


def test_cached_records_are_announced_as_cached(task_dir: Path, tmp_path: Path) -> None:
    evaluate(FakeModel(), task_dir, "raw", out_dir=tmp_path / "run", progress=False)
    hooks = Hooks()
    flags: list[bool] = []
    hooks.on("record", lambda record, cached: flags.append(cached))
    evaluate(FakeModel(), task_dir, "raw", out_dir=tmp_path / "run", progress=False, hooks=hooks)
    assert flags == [True] * 4


class _WorseOnReask(FakeModel):
    """First answer: valid JSON with one schema problem; every re-ask: the same broken text."""

    def generate(self, prompts, **kw):  # type: ignore[no-untyped-def]
        from formbound.models.base import Generation

        self.calls.append({"n": len(prompts)})
        out = []
        for p in prompts:
            reask = isinstance(p, list) and p[-1]["content"].startswith("Your previous answer was rejected")
            text = "Your previous answer was rejected" if reask else '{"name": "Ada", "age": "36"}'
            out.append(Generation(text, 10, 5, 0.01, "stop"))
        return out


def test_reask_keeps_the_best_attempt_and_stops_when_the_model_repeats(tmp_path: Path) -> None:
    task_dir = write_task_set(tmp_path / "ts")
    model = _WorseOnReask()
    report = evaluate(model, task_dir, ["reask:3"], limit=1, progress=False)
    (rec,) = report.records_for("reask:3")
    # attempt 0 (schema error), attempt 1 (syntax error), attempt 2 repeats attempt 1: stop there
    assert len(rec.texts) == 3 and len(model.calls) == 3
    assert rec.error is not None and rec.error["stage"] == "schema"  # the better, first answer
    assert rec.syntax_valid
    assert rec.final_text == '{"name": "Ada", "age": "36"}' and rec.chosen == -3
