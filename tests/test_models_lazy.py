"""Lazy models: a cached rerun loads nothing and keeps the measured cost; identity matches info();
reprs; ``openai:`` models read ``$OPENAI_API_KEY`` from Python too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _measure_fakes import FakeModel, write_task_set
from formbound.measure import evaluate
from formbound.models import LazyModel, identity, load


def _never() -> Any:
    pytest.fail("the model was loaded although every answer was cached")


def test_cached_rerun_loads_no_model_and_keeps_the_generation_cost(tmp_path: Path) -> None:
    tasks = write_task_set(tmp_path / "people")
    out = tmp_path / "out"
    first = evaluate(FakeModel(), tasks, "raw,prompted,constrained", out_dir=out)
    assert first.meta["generated_items"] == 12
    measured = first.meta["generation_seconds"]
    assert measured > 0
    lazy = LazyModel(_never, {"name": "fake", "source": "test", "adapter": None})
    assert lazy.info()["loaded"] is False
    again = evaluate(lazy, tasks, "raw,prompted,constrained", out_dir=out)
    assert not lazy.loaded
    assert again.meta["generated_items"] == 0
    assert again.meta["generation_seconds"] == measured
    md = (out / "report.md").read_text()
    assert f"generation time: {measured} s" in md
    assert again.metrics["raw"].to_dict() == first.metrics["raw"].to_dict()
    assert again.meta["model"] == first.meta["model"]  # the facts of the run that loaded it


def test_lazy_model_loads_once_when_something_is_missing(tmp_path: Path) -> None:
    tasks = write_task_set(tmp_path / "people")
    loads: list[int] = []

    def loader() -> FakeModel:
        loads.append(1)
        return FakeModel()

    lazy = LazyModel(loader, {"name": "fake", "source": "test", "adapter": None})
    assert "not loaded yet" in repr(lazy)
    report = evaluate(lazy, tasks, "raw,prompted", out_dir=tmp_path / "out")
    assert loads == [1] and lazy.loaded and report.meta["generated_items"] == 8
    assert lazy.calls  # attributes of the real model are forwarded


def test_identity_is_what_the_loaded_model_reports(tmp_path: Path, tiny_tokenizer: Any) -> None:
    from _tiny import tiny_model

    folder = tmp_path / "tiny"
    tiny_model().save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    ident = identity(folder)
    assert ident is not None
    model = load(folder, device="cpu")
    info = model.info()
    assert {k: info[k] for k in ident} == ident
    lazy = load(folder, device="cpu", lazy=True)
    assert isinstance(lazy, LazyModel) and not lazy.loaded
    assert lazy.info()["source"] == info["source"]
    text = repr(model)
    assert text.startswith("<TransformersModel ") and "device='cpu'" in text and "adapter=None" in text
    assert str(folder) in text


def test_identity_is_none_where_it_cannot_be_predicted(tmp_path: Path) -> None:
    assert identity("openai:m") is None
    assert identity(tmp_path / "missing") is None


def test_openai_model_reads_the_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    model = load("openai:m", base_url="http://127.0.0.1:9/v1")
    assert model._api_key == "sk-from-env"  # type: ignore[attr-defined]
    assert "sk-from-env" not in repr(model)
    explicit = load("openai:m", base_url="http://127.0.0.1:9/v1", api_key="sk-given")
    assert explicit._api_key == "sk-given"  # type: ignore[attr-defined]
    monkeypatch.delenv("OPENAI_API_KEY")
    assert load("openai:m", base_url="http://127.0.0.1:9/v1")._api_key is None  # type: ignore[attr-defined]
