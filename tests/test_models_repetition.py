"""The repetition guard (opt-in): repeated array elements and string n-grams are cut among the best
candidates; the guard never forbids everything, and output under it still validates."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from formbound.constraints import Constraint
from formbound.models.repetition import RepeatGuard
from formbound.strategies import parse_strategy

np = pytest.importorskip("numpy")

VOCAB = ['["', "Ann", '"', ",", ' "', "]", "Bob", "{", "}", "john", "_", '"a', '":', " 1", "x", '",', "9"]
ID = {text: i for i, text in enumerate(VOCAB)}


def _guard() -> RepeatGuard:
    endings = [ID[t] for t in ('"', "]", "}")]
    return RepeatGuard(lambda ids: b"".join(VOCAB[i].encode() for i in ids), endings)


def _feed(guard: RepeatGuard, *texts: str) -> None:
    for text in texts:
        guard.consumed(ID[text])


def _row(*allowed: str) -> Any:
    row = np.zeros(1, dtype=np.int32)
    for text in allowed:
        row[0] |= np.int32(1 << ID[text]) if ID[text] < 31 else 0
    return row


def _allowed(row: Any) -> set[str]:
    return {text for text, i in ID.items() if int(row[0]) >> i & 1}


def _scores(*best_first: str) -> Any:
    scores = np.zeros(len(VOCAB), dtype=np.float32)
    for rank, text in enumerate(best_first):
        scores[ID[text]] = 10.0 - rank
    return scores


def test_a_separator_after_a_repeated_element_is_cut_so_the_array_closes() -> None:
    guard = _guard()
    _feed(guard, '["', "Ann", '"', ",", ' "', "Ann", '"')
    assert guard.repeats(ID[","]) and not guard.repeats(ID["]"])
    row = _row(",", "]")
    guard.restrict(row, _scores(",", "]"))
    assert _allowed(row) == {"]"} and guard.blocked == 1


def test_a_quote_and_separator_token_after_a_repeat_leaves_only_endings() -> None:
    """``",`` would end a repeated element and go on: the element is closed instead, then the array."""
    guard = _guard()
    _feed(guard, '["', "Ann", '"', ",", ' "', "Ann")
    row = _row('",', "9", '"', "]")
    guard.restrict(row, _scores('",', "9", '"'))
    assert _allowed(row) == {'"', "]"}  # not "Ann9": the string may only end (the grammar picks what fits)
    _feed(guard, '"')
    row = _row(",", "]")
    guard.restrict(row, _scores(",", "]"))
    assert _allowed(row) == {"]"}


def test_different_elements_and_nested_commas_are_left_alone() -> None:
    guard = _guard()
    _feed(guard, '["', "Ann", '"', ",", ' "', "Bob", '"')
    assert not guard.repeats(ID[","])
    objects = _guard()
    _feed(objects, "{", '"a', '":', " 1")
    assert not objects.repeats(ID[","])  # a comma between properties is no array separator


def test_a_repeated_ngram_inside_a_string_is_cut_and_closing_is_not() -> None:
    guard = _guard()
    _feed(guard, ' "', "x", "john", "_", "john", "_")
    assert guard.repeats(ID["john"])  # (john, _, john) was seen
    assert not guard.repeats(ID['"']) and not guard.repeats(ID["x"])
    row = _row("john", '"')
    guard.restrict(row, _scores("john", '"'))
    assert _allowed(row) == {'"'}


def test_the_guard_never_forbids_the_only_allowed_token() -> None:
    guard = _guard()
    _feed(guard, '["', "Ann", '"', ",", ' "', "Ann", '"')
    row = _row(",")
    guard.restrict(row, _scores(","))
    assert _allowed(row) == {","} and guard.blocked == 0


def test_norepeat_strategy_turns_the_guard_on_and_output_still_validates(shared_tiny_model: Any) -> None:
    strategy = parse_strategy("constrained+norepeat")
    assert strategy.constrained and strategy.norepeat and strategy.describe()["norepeat"] is True
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
              "required": ["tags"], "additionalProperties": False}  # fmt: skip
    c = Constraint("json_schema", schema, repetition_guard=True)
    assert c.key == Constraint("json_schema", schema).key  # the same compiled grammar
    gens = shared_tiny_model.generate(["x", "y"], constraint=c, max_new_tokens=40, temperature=1.5, seed=3)
    for g in gens:
        assert g.finish_reason == "stop" and isinstance(g.extra["repeats_blocked"], int)
        jsonschema.validate(json.loads(g.text), schema)
