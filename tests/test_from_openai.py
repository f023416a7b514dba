"""``models.from_openai(client, model=...)``: an ``openai`` SDK client as a model source.

Driven against the fake server of ``tests/_openai_fake.py``; the real-server test is in
``tests/test_openai_compat.py`` (it shares llama-cpp-python's server with the other served tests).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from _openai_fake import FakeServer, Reply, default_reply
from formbound.constraints import Constraint
from formbound.errors import ConfigError, GenerationError
from formbound.models import Model, from_openai

openai = pytest.importorskip("openai")

SCHEMA = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
JSON_C = Constraint("json_schema", SCHEMA)
CHAT = [{"role": "user", "content": "Give me a person as JSON."}]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(owned_by="openai")
    yield fake
    fake.close()


def sync_client(server: FakeServer, **options: Any) -> Any:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.url, api_key=options.pop("api_key", "sk-fake"), **options)


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, server: FakeServer) -> Iterator[Any]:
    if request.param == "sync":
        c = sync_client(server)
        yield c
        c.close()
    else:
        c = openai.AsyncOpenAI(base_url=server.url, api_key="sk-fake", max_retries=0)
        yield c
        from_openai(c, model="m").close()  # closes an async client on the loop that drove it


def test_structured_output_goes_as_response_format_json_schema(client: Any, server: FakeServer) -> None:
    model = from_openai(client, model="gpt-test")
    assert isinstance(model, Model) and model.can_constrain
    gens = model.generate([CHAT, CHAT], constraint=JSON_C, max_new_tokens=32, seed=3)
    assert server.gets == ["/v1/models"]  # the server kind, asked through client.models.list()
    assert [p for p, _, _ in server.requests] == ["/v1/chat/completions"] * 2
    body = server.bodies[0]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": SCHEMA, "strict": True},
    }
    assert (body["model"], body["max_tokens"], body["seed"], body["messages"]) == ("gpt-test", 32, 3, CHAT)
    for gen in gens:
        assert json.loads(gen.text) == {"echo": CHAT[-1]["content"]}
        assert gen.route == "openai:response_format"
        assert gen.generated_tokens > 0 and gen.extra["attempts"] == 1
    assert model.info()["source"] == "openai_sdk"


def test_a_text_prompt_goes_to_completions_through_the_sdk(client: Any, server: FakeServer) -> None:
    (gen,) = from_openai(client, model="m", server_kind="openai").generate(["templated text"])
    assert server.requests[0][0] == "/v1/completions"
    assert json.loads(gen.text) == {"echo": "templated text"}


def test_server_dialects_travel_in_extra_body(server: FakeServer) -> None:
    """A vLLM server behind the SDK still gets its own parameters (the SDK does not know them)."""
    server.owned_by = "vllm"
    regex = Constraint("regex", r"[a-z]{1,8}")
    (gen,) = from_openai(sync_client(server), model="m").generate([CHAT], constraint=regex)
    assert server.bodies[0]["structured_outputs"] == {"regex": regex.value}
    assert gen.route == "vllm:regex"


def test_the_clients_own_retries_apply_and_are_counted(server: FakeServer) -> None:
    server.behave = lambda p, b, n: (
        Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "0"})
        if n == 1
        else default_reply(p, b)
    )
    (gen,) = from_openai(sync_client(server, max_retries=2), model="m", server_kind="openai").generate([CHAT])
    assert len(server.requests) == 2 and gen.extra["attempts"] == 2


def test_a_refusal_follows_the_on_unsupported_policy(server: FakeServer) -> None:
    def behave(path: str, body: dict[str, Any], n: int) -> Reply:
        if "response_format" in body:
            return Reply(400, {"error": {"message": "json_schema is not supported"}})
        return default_reply(path, body)

    server.behave = behave
    (gen,) = from_openai(sync_client(server), model="m").generate([CHAT], constraint=JSON_C)
    assert gen.route == "none" and "json_schema is not supported" in gen.extra["fallback"]
    strict = from_openai(sync_client(server), model="m", on_unsupported="raise")
    with pytest.raises(GenerationError, match="json_schema is not supported"):
        strict.generate([CHAT], constraint=JSON_C)


def test_errors_are_generation_errors_without_the_key(server: FakeServer) -> None:
    key = "sk-secret-" + os.urandom(4).hex()
    server.behave = lambda p, b, n: Reply(401, {"error": {"message": f"bad key {key}"}})
    model = from_openai(sync_client(server, api_key=key), model="m", server_kind="openai")
    with pytest.raises(GenerationError, match=r"HTTP 401.*check the client's api_key") as info:
        model.generate([CHAT])
    assert key not in str(info.value) and key not in repr(model) and key not in json.dumps(model.info())


def test_an_unreachable_server_is_a_generation_error(server: FakeServer) -> None:
    url = server.url
    server.close()
    client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=5)
    with pytest.raises(GenerationError, match="cannot connect"):
        from_openai(client, model="m", server_kind="openai").generate([CHAT])


@pytest.mark.parametrize(
    ("client", "model", "message"),
    [("http://127.0.0.1:8000/v1", "m", "openai.OpenAI or openai.AsyncOpenAI"), (None, "", "model id")],
)
def test_bad_arguments_are_config_errors(server: FakeServer, client: Any, model: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_openai(client if client is not None else sync_client(server), model=model)


def test_an_async_client_works_from_inside_a_running_event_loop(server: FakeServer) -> None:
    """Generator.agenerate calls generate() from a worker thread while the caller's loop runs."""
    client = openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0)
    model = from_openai(client, model="m", server_kind="openai")

    async def main() -> list[Any]:
        return await asyncio.to_thread(model.generate, [CHAT, CHAT], constraint=JSON_C)

    gens = asyncio.run(main())
    assert [g.route for g in gens] == ["openai:response_format"] * 2
    (again,) = from_openai(client, model="m", server_kind="openai").generate([CHAT])  # same client, same loop
    assert json.loads(again.text) == {"echo": CHAT[-1]["content"]}
    model.close()
    assert client.is_closed()
