"""What goes over the wire and what comes back: request bodies, endpoints, answers as Generations."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from formbound.errors import ConfigError, GenerationError
from formbound.models.base import Generation, Prompt
from formbound.models.openai_compat.dialects import Endpoint
from formbound.models.openai_compat.transport import ERROR_BODY_CHARS

__all__ = ["endpoint_of", "request_body", "to_generation"]


def to_generation(
    data: dict[str, Any],
    endpoint: Endpoint,
    seconds: float,
    route: str | None,
    extra: dict[str, Any],
    redact: Callable[[str], str],
) -> Generation:
    """A :class:`Generation` from an OpenAI-style answer (chat or text completion)."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        shown = redact(json.dumps(data, default=str)[:ERROR_BODY_CHARS])
        raise GenerationError(f"the server's answer has no choices: {shown}")
    choice = choices[0]
    if endpoint == "chat":
        message = choice.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if isinstance(message, dict) and message.get("refusal"):
            extra["refusal"] = message["refusal"]
    else:
        text = choice.get("text")
    raw_reason = choice.get("finish_reason")
    if raw_reason not in ("stop", "length"):
        extra["finish_reason_raw"] = raw_reason
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    if usage is None:
        extra["usage_missing"] = True
        usage = {}
    return Generation(
        text=text if isinstance(text, str) else "",
        prompt_tokens=_int(usage.get("prompt_tokens")),
        generated_tokens=_int(usage.get("completion_tokens")),
        seconds=seconds,
        finish_reason="length" if raw_reason == "length" else "stop",
        route=route,
        extra=extra,
    )


def request_body(
    base: dict[str, Any], prompt: Prompt, endpoint: Endpoint, extra_body: dict[str, Any]
) -> dict[str, Any]:
    """The request body for one prompt (before any constraint parameters)."""
    body = dict(base)
    if endpoint == "chat":
        body["messages"] = [dict(m) for m in prompt if isinstance(m, dict)]
    else:
        body["prompt"] = prompt
    body.update(extra_body)
    return body


def endpoint_of(prompt: Any, index: int) -> Endpoint:
    """``"completions"`` for templated text, ``"chat"`` for a list of messages; else a ConfigError."""
    if isinstance(prompt, str):
        return "completions"
    if isinstance(prompt, Sequence) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in prompt
    ):
        if not prompt:
            raise ConfigError(f"prompt {index} is an empty list of messages")
        return "chat"
    raise ConfigError(
        f"prompt {index} is a {type(prompt).__name__}; expected templated text (str) or a list of "
        "{'role': ..., 'content': ...} messages"
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
