"""formbound.Generator: every rung through one call, typed results, async, from_run, and one code path
with the measurement runner."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests._measure_fakes import SCHEMA, FakeModel, write_task_set

import formbound as fb
from formbound.errors import ConfigError, EnforcementError
from formbound.measure import evaluate, load_task_set
from formbound.models.base import Generation, Model
from formbound.strategies import parse_strategy


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    return write_task_set(tmp_path / "persons")


def test_every_rung_through_generator() -> None:
    model = FakeModel()
    expected = {
        # rung: (input, valid?, value or error stage)
        "raw": ("Bob is 41.", False, "syntax"),  # fenced, no repairs
        "prompted": ("Bob is 41.", False, "syntax"),
        "repaired": ("Bob is 41.", True, {"name": "Bob", "age": 41}),
        "reask": ("Cy is 19.", True, {"name": "Cy", "age": 19}),  # the re-ask fixes the cut-off answer
        "reask:0": ("Cy is 19.", False, "syntax"),  # cut off by the token limit: never an answer
        "constrained": ("Cy is 19.", True, {"name": "Cy", "age": 19}),
    }
    for rung, (item, ok, want) in expected.items():
        gen = fb.Generator(model, SCHEMA, strategy=rung, max_new_tokens=32)
        (out,) = gen.batch([item])
        if ok:
            assert isinstance(out, fb.Result), (rung, out)
            assert out.value == want
            assert out.generations and out.generations[out.chosen].finish_reason == "stop"
        else:
            assert isinstance(out, EnforcementError), rung
            assert out.stage == want
            assert out.generations  # the failure carries what the model produced


def test_cut_off_generation_is_never_a_success() -> None:
    class CutOff(Model):
        def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
            # a complete, valid value, but the generation hit the token limit
            return [Generation('{"name": "Ada", "age": 36}', 5, 8, 0.0, "length") for _ in prompts]

    gen = fb.Generator(CutOff(), SCHEMA, strategy="repaired", max_new_tokens=8)
    with pytest.raises(EnforcementError) as info:
        gen("Ada is 36.")
    assert info.value.errors[0].kind == "truncated"
    assert "token limit" in str(info.value)


def test_auto_strategy_follows_what_the_source_can_do() -> None:
    assert fb.Generator(FakeModel(), SCHEMA).strategy.reasks == 2  # cannot constrain: re-ask

    class Constrains(FakeModel):
        can_constrain = True

    assert fb.Generator(Constrains(), SCHEMA).strategy.constrained
    assert fb.Generator(FakeModel(), SCHEMA, retries=4).strategy.reasks == 4


def test_auto_strategy_asks_the_real_model_behind_a_lazy_one() -> None:
    from formbound.models.lazy import LazyModel

    class Constrains(FakeModel):
        can_constrain = True

    lazy = LazyModel(Constrains, {"name": "c", "source": "test", "adapter": None})
    assert fb.Generator(lazy, SCHEMA).strategy.constrained


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'constrained'"):
        fb.Generator(FakeModel(), SCHEMA, strategy="constrianed")
    with pytest.raises(ConfigError, match="retries"):
        fb.Generator(FakeModel(), SCHEMA, retries=-1)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        fb.Generator(FakeModel(), SCHEMA, max_new_tokens=0)

    class NoAdapters(Model):
        def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
            raise AssertionError("not called")

    with pytest.raises(ConfigError, match="set_adapter"):
        fb.Generator(NoAdapters(), SCHEMA, strategy="adapter:.")
    with pytest.raises(ConfigError, match="text or a list of chat messages"):
        fb.Generator(FakeModel(), SCHEMA)(42)  # type: ignore[arg-type]


def test_few_shot_examples_and_instruction_reach_the_prompt() -> None:
    model = FakeModel()
    gen = fb.Generator(
        model,
        SCHEMA,
        strategy="prompted",
        instruction="Extract the person.",
        examples=[("Ann is 30.", {"name": "Ann", "age": 30})],
    )
    gen("Ada is 36.")
    (messages,) = model.calls[0]["prompts"]
    assert "Extract the person." in messages[0]["content"]
    assert messages[1] == {"role": "user", "content": "Ann is 30."}
    assert json.loads(messages[2]["content"]) == {"name": "Ann", "age": 30}
    assert messages[-1]["content"] == "Ada is 36."
    # chat messages given as such are sent unchanged
    model.calls.clear()
    gen([{"role": "user", "content": "Ada is 36."}])
    assert model.calls[0]["prompts"] == [[{"role": "user", "content": "Ada is 36."}]]


def test_batch_sends_one_call_and_keeps_order() -> None:
    model = FakeModel()
    gen = fb.Generator(model, SCHEMA, strategy="repaired")
    outs = gen.batch(["Ada is 36.", "Bob is 41.", "Cy is 19."])
    assert len(model.calls) == 1 and len(model.calls[0]["prompts"]) == 3
    assert [o.value["name"] if isinstance(o, fb.Result) else None for o in outs] == ["Ada", "Bob", None]


def test_async_calls_give_the_same_answers() -> None:
    gen = fb.Generator(FakeModel(), SCHEMA, strategy="repaired")

    async def main() -> tuple[Any, Any]:
        one = await gen.agenerate("Ada is 36.")
        many = await gen.abatch(["Ada is 36.", "Cy is 19."])
        return one, many

    one, many = asyncio.run(main())
    assert one.value == {"name": "Ada", "age": 36}
    assert isinstance(many[0], fb.Result) and isinstance(many[1], EnforcementError)


def test_pydantic_spec_returns_the_model_type() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

    result = fb.Generator(FakeModel(), Person, strategy="repaired")("Ada is 36.")
    assert isinstance(result.value, Person) and result.value.age == 36


def test_evaluate_and_generator_give_the_same_text(task_dir: Path) -> None:
    """One code path: what `formbound eval` measures is what Generator returns."""
    from formbound.measure.strategies import choose_examples, example_pairs

    ts = load_task_set(task_dir)
    for rung in ("prompted", "repaired", "reask", "constrained"):
        report = evaluate(FakeModel(), ts, [rung], seed=0, progress=False)
        rung_obj = parse_strategy(rung)
        examples = choose_examples(ts, rung_obj.shots, 0)
        for task, rec in zip(ts.split("test"), report.records_for(rung), strict=True):
            gen = fb.Generator(
                FakeModel(),
                ts.spec,
                strategy=rung,
                instruction=ts.instruction,
                examples=example_pairs(ts, task, examples),
                max_new_tokens=ts.max_new_tokens,
                seed=0,
            )
            (out,) = gen.batch([task.input])
            assert [g.text for g in out.generations] == rec.texts, (rung, task.id)
            assert isinstance(out, fb.Result) == rec.schema_valid


def test_from_run_rebuilds_the_recommended_generator(task_dir: Path, tmp_path: Path) -> None:
    import shutil

    from formbound.generate import deploy_record

    ts = load_task_set(task_dir)
    run = tmp_path / "runs" / "persons"
    run.mkdir(parents=True)
    record = deploy_record(
        run,
        model="default",
        spec=ts.spec,
        strategy="constrained",
        constrained=True,
        instruction=ts.instruction,
        examples=[("Ann is 30.", '{"name": "Ann", "age": 30}')],
        seed=0,
        max_new_tokens=32,
        task_set=task_dir,
    )
    assert not Path(record["task_set"]).is_absolute()  # portable: relative to the run folder
    (run / "decision.json").write_text(json.dumps({"recommended": "constrained", "deploy": record}))
    # the run folder copied elsewhere, the task set gone: the decision alone rebuilds the generator
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "runs", moved / "runs")
    shutil.rmtree(task_dir)
    gen = fb.Generator.from_run(moved / "runs" / "persons", model=FakeModel())
    assert gen.strategy.constrained and gen.max_new_tokens == 32
    assert gen.instruction == "Extract the person as JSON."
    assert gen.examples == [("Ann is 30.", '{"name": "Ann", "age": 30}')]
    assert gen.spec.hash == ts.spec.hash
    assert gen("Cy is 19.").value == {"name": "Cy", "age": 19}
    with pytest.raises(ConfigError, match=r"no decision\.json"):
        fb.Generator.from_run(tmp_path / "nothing", model=FakeModel())


def test_from_run_switches_the_recommended_adapter(task_dir: Path, tmp_path: Path) -> None:
    """The deployed adapter is the one the run recommended, switched on around generation only."""
    from formbound.generate import deploy_record

    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "metadata.json").write_text(json.dumps({"prompt": {"style": "prompted", "shots": 1}}))
    record = deploy_record(
        tmp_path / "run",
        model="tiny",
        spec=load_task_set(task_dir).spec,
        strategy="adapter",
        adapter=adapter,
        constrained=True,
        examples=[("Ann is 30.", '{"name": "Ann", "age": 30}')],
        max_new_tokens=16,
    )
    (tmp_path / "run" / "decision.json").write_text(json.dumps({"deploy": record}))
    model = FakeModel()
    gen = fb.Generator.from_run(tmp_path / "run", model=model)
    assert gen.strategy.adapter == str(tmp_path / "run" / "adapter")
    assert gen.strategy.constrained and gen.strategy.shots == 1
    gen("Cy is 19.")
    assert model.adapters == [str(tmp_path / "run" / "adapter"), None]


# ------------------------------------------------------------------------------------------ guard
SCHEMA_N = {"properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_guard_without_a_feedback_parameter_extends_a_text_prompt() -> None:
    seen: list[str] = []
    answers = iter(['{"n": "two"}', '{"n": 2}'])

    def ask(prompt: str) -> str:
        seen.append(prompt)
        return next(answers)

    result = fb.guard(SCHEMA_N)(ask)("How many?")
    assert result.value == {"n": 2} and len(result.attempts) == 2
    assert seen[0] == "How many?"
    assert seen[1].startswith("How many?\n\n")
    assert '{"n": "two"}' in seen[1]  # the previous answer is quoted back
    assert "'two' is not of type 'integer'" in seen[1]


def test_guard_without_a_feedback_parameter_extends_chat_messages() -> None:
    seen: list[list[dict[str, str]]] = []
    answers = iter(["no idea", '{"n": 2}'])

    def ask(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return next(answers)

    fb.guard(SCHEMA_N)(ask)([{"role": "user", "content": "How many?"}])
    assert [m["role"] for m in seen[1]] == ["user", "assistant", "user"]
    assert seen[1][1]["content"] == "no idea"
    assert "rejected" in seen[1][2]["content"]


def test_guard_with_feedback_gets_the_previous_answer_in_it() -> None:
    feedbacks: list[str | None] = []
    answers = iter(['{"n": "two"}', '{"n": 2}'])

    def ask(prompt: str, feedback: str | None = None) -> str:
        feedbacks.append(feedback)
        return next(answers)

    fb.guard(SCHEMA_N)(ask)("How many?")
    assert feedbacks[0] is None
    assert feedbacks[1] is not None and '{"n": "two"}' in feedbacks[1]


def test_guard_wraps_async_functions() -> None:
    answers = iter(['{"n": "two"}', '{"n": 2}'])

    async def ask(prompt: str) -> str:
        await asyncio.sleep(0)
        return next(answers)

    wrapped = fb.guard(SCHEMA_N)(ask)
    result = asyncio.run(wrapped("How many?"))
    assert result.value == {"n": 2} and len(result.attempts) == 2

    async def never(prompt: str) -> str:
        return "nope"

    with pytest.raises(EnforcementError) as info:
        asyncio.run(fb.guard(SCHEMA_N, retries=1)(never)("How many?"))
    assert len(info.value.attempts) == 2


# ------------------------------------------------------------------------------ TypeAdapter types
def _types() -> list[tuple[Any, str, Any]]:
    import dataclasses
    from typing import Literal

    from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Movie(TypedDict):
        title: str
        year: int

    return [
        (list[Person], '[{"name": "Ada", "age": 36}]', [Person(name="Ada", age=36)]),
        (Person | None, "null", None),
        (Person | None, '{"name": "Ada", "age": 36}', Person(name="Ada", age=36)),
        (Point, '{"x": 1, "y": 2}', Point(1, 2)),
        (Movie, '{"title": "Up", "year": 2009}', {"title": "Up", "year": 2009}),
        (Literal["red", "green"], '"green"', "green"),
        (dict[str, int], '{"a": 1, "b": 2}', {"a": 1, "b": 2}),
        (int, "42", 42),
    ]


def test_type_adapter_types_round_trip() -> None:
    for tp, text, want in _types():
        result = fb.enforce(text, tp)
        assert result.value == want, tp
        assert type(result.value) is type(want), tp
        assert result.repairs == (), tp
        # the canonical text validates against its own spec and gives the same value back
        assert fb.enforce(result.text, tp).value == want, tp


def test_type_adapter_types_reject_and_report_conversions() -> None:
    from typing import Literal

    with pytest.raises(EnforcementError) as info:
        fb.enforce('"blue"', Literal["red", "green"])
    assert info.value.stage == "schema"
    converted = fb.enforce('{"a": "1"}', dict[str, int])
    assert converted.value == {"a": 1} and converted.repairs == ("coerce",)
    with pytest.raises(EnforcementError, match="strict mode"):
        fb.enforce('{"a": "1"}', fb.Spec.json(dict[str, int], strict=True))


def test_generator_returns_type_adapter_types() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

    class Listing(Model):
        def generate(self, prompts: Any, **kw: Any) -> list[Generation]:
            return [Generation('[{"name": "Ada", "age": 36}]', 3, 9, 0.0, "stop") for _ in prompts]

    gen = fb.Generator(Listing(), list[Person], strategy="prompted")
    people = gen("Ada is 36.").value
    assert people == [Person(name="Ada", age=36)]
    assert gen.spec.constraint().kind == "json_schema"  # the grammar comes from the type's schema


# ------------------------------------------------------------------------------ prompt template
@pytest.mark.parametrize("rung", ["raw", "prompted", "constrained", "reask"])
def test_cached_prompt_equals_a_full_render_for_any_input(rung: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    examples = [("Ann is 30.", {"name": "Ann", "age": 30})]
    gen = fb.Generator(FakeModel(), SCHEMA, strategy=rung, instruction="Extract.", examples=examples)
    tricky = st.sampled_from(["", "  Ada \n", "{{ task_input }}", "\x00formbound-input-a\x00", "a\r\nb"])

    @settings(max_examples=60, deadline=None)
    @given(st.one_of(st.text(), tricky))
    def check(item: str) -> None:
        assert gen.messages(item) == gen.strategy.messages(
            gen.spec, item, instruction="Extract.", examples=gen.examples
        )

    check()
    # a changed instruction reaches the next prompt
    gen.instruction = "Something else."
    assert "Something else." in gen.messages("Ada")[0]["content"]


def test_spec_factories_name_a_misspelt_option() -> None:
    with pytest.raises(fb.SpecError, match="did you mean 'database'"):
        fb.Spec.sql(databse="shop.db")
    with pytest.raises(fb.SpecError, match="did you mean 'max_nodes'"):
        fb.Spec.yaml({"type": "object"}, max_node=10)
    with pytest.raises(fb.SpecError, match="did you mean 'strict'"):
        fb.Spec.json({"type": "object"}, stirct=True)
    assert fb.Spec.yaml({"type": "object"}, max_nodes=10).max_nodes == 10  # type: ignore[attr-defined]
