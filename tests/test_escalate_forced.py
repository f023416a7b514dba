"""The ladder counts forced closes as valid answers and says how many there were, per rung."""

from __future__ import annotations

from formbound.escalate.decision import Decision, rung_numbers
from formbound.measure.metrics import summarise
from formbound.measure.records import Record


def _record(i: int, *, forced: bool) -> Record:
    return Record(
        strategy="constrained",
        task_id=f"t{i}",
        key=f"k{i}",
        texts=['{"a": 1}'],
        finish_reasons=["stop"],
        prompt_tokens=10,
        generated_tokens=5,
        seconds=0.1,
        syntax_valid=True,
        schema_valid=True,
        value={"a": 1},
        correct=True,
        fields={"/a": True},
        chosen=0,
        forced_close=forced,
    )


def _decision() -> Decision:
    constrained = rung_numbers(summarise("constrained", [_record(i, forced=i < 3) for i in range(20)]))
    prompted = rung_numbers(summarise("prompted", [_record(i, forced=False) for i in range(20)]))
    return Decision(
        outcome="cheap_rung",
        recommended="constrained",
        reasons=["constrained reaches the target"],
        target=0.9,
        baseline={"prompted": prompted.to_dict(), "constrained": constrained.to_dict()},
    )


def test_forced_closes_count_as_valid_and_are_reported_per_rung() -> None:
    d = _decision()
    assert d.baseline["constrained"]["forced_close"] == 3
    assert d.baseline["constrained"]["valid"] == 20  # forced closes are valid answers
    line = "`constrained`: 3 of 20 answers were forced closed near the token limit"
    for text in (d.markdown(), d.summary()):
        assert line in text
        assert text.count("forced closed near the token limit") == 1  # no line for a rung without any


def test_decisions_written_before_forced_closes_still_render() -> None:
    d = _decision()
    for r in d.baseline.values():
        r.pop("forced_close")
    assert "forced closed" not in d.markdown() and "forced closed" not in d.summary()
