"""Models served behind an OpenAI-compatible HTTP API (vLLM, llama.cpp's server, llama-cpp-python, OpenAI).

:class:`OpenAICompatModel` sends chat prompts (lists of messages) to ``/chat/completions`` and
already-templated text prompts to ``/completions``, with bounded concurrency, per-request timeouts and
retries with exponential backoff for transient failures (429, 5xx, dropped connections).

A :class:`~formbound.constraints.Constraint` is passed in the server's own dialect for structured output:

* ``vllm``: a JSON schema as ``response_format`` (type ``json_schema``); a regex or Lark grammar as
  ``structured_outputs`` (vLLM >= 0.10.2) together with ``guided_regex`` / ``guided_grammar`` (older
  releases; newer ones ignore them).
* ``llamacpp`` (llama.cpp's ``llama-server``): a JSON schema as ``response_format`` (type
  ``json_object`` with ``schema``) for chat, as ``json_schema`` for text prompts. Regex and Lark are
  not sent: its grammar language is GBNF, and formbound's Lark grammars use llguidance features
  (regex terminals with ``&`` / ``~``) that have no GBNF equivalent.
* ``llama-cpp-python``: a JSON schema as ``response_format`` (``json_object`` with ``schema``) for chat
  only; its ``/completions`` takes nothing but GBNF.
* ``openai``: a JSON schema as ``response_format`` (type ``json_schema``, ``strict``) for chat only.
* ``none``: nothing is sent.

``server_kind="auto"`` asks the server's ``/models`` once (cached per base URL) and reads ``owned_by``.
Where the server has no support for a constraint, or rejects a constrained request, the prompt is sent
unconstrained and :attr:`Generation.route <formbound.models.base.Generation.route>` says ``"none"``; the
caller then relies on prompt, :func:`formbound.enforce` and re-asks, as for any unconstrained model.
A server may also *ignore* parameters it does not know; output is validated afterwards either way.

Only the standard library is used (``urllib.request``, ``concurrent.futures``).
"""

from __future__ import annotations

import difflib
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from formbound.errors import ConfigError, GenerationError
from formbound.models.base import Generation, Model, Prompt

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["SERVER_KINDS", "OpenAICompatModel", "clear_probe_cache"]

log = logging.getLogger(__name__)

#: Accepted values of ``server_kind``.
SERVER_KINDS: tuple[str, ...] = ("auto", "vllm", "llamacpp", "llama-cpp-python", "openai", "none")

#: ``owned_by`` of a ``/models`` entry -> server kind; anything else is treated as plain ``"openai"``.
_OWNED_BY: dict[str, str] = {
    "vllm": "vllm",
    "llamacpp": "llamacpp",
    "me": "llama-cpp-python",
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
}

#: HTTP statuses worth retrying: the server is busy, restarting or timed out on its side.
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: Statuses that mean "this request is not acceptable" — for a constrained request, try it unconstrained.
_REJECTED_STATUS = frozenset({400, 404, 405, 413, 415, 422, 501})
_ERROR_BODY_CHARS = 300

Endpoint = Literal["chat", "completions"]

_probe_cache: dict[str, tuple[str, tuple[str, ...]]] = {}
_probe_lock = threading.Lock()


def clear_probe_cache() -> None:
    """Forget every server kind detected by ``server_kind="auto"`` (e.g. after a server was replaced)."""
    with _probe_lock:
        _probe_cache.clear()


@dataclass(frozen=True)
class _Payload:
    """Constraint parameters for one request, and the route name recorded when they are used."""

    params: dict[str, Any]
    route: str


@dataclass(frozen=True)
class _Job:
    """One request of a batch: the prompt's index, its endpoint and the request body (unconstrained)."""

    index: int
    endpoint: Endpoint
    body: dict[str, Any]


class _Skipped(Exception):
    """A request not sent because another request of the batch failed first."""


class _HTTPFailure(Exception):
    """A failed HTTP exchange, classified; turned into a GenerationError at the edge."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        #: Tries made before giving up (set by the retry loop).
        self.tries = 1


class OpenAICompatModel(Model):
    """A model served behind an OpenAI-compatible API.

    Args:
        model_name: The model id the server serves (``/models`` lists them); ``""`` picks the first one
            the server lists.
        base_url: The API root, as for the ``openai`` client, e.g. ``"http://127.0.0.1:8000/v1"``; a URL
            without a path gets ``/v1`` appended.
        api_key: Sent as ``Authorization: Bearer …`` when given; never shown in errors, logs or ``repr``.
        timeout_s: Seconds one HTTP exchange may wait on the socket (connecting, or between bytes of the
            answer) before it fails.
        max_concurrency: Requests in flight at once for a batch.
        retries: Extra tries for a transient failure (429, 5xx, a dropped connection); 0 disables.
        server_kind: ``"auto"`` (ask ``/models`` once, cached), ``"vllm"``, ``"llamacpp"`` (llama.cpp's
            ``llama-server``), ``"llama-cpp-python"``, ``"openai"`` or ``"none"`` (never send constraints).
        backoff_s: First wait before a retry; doubles each retry, capped at ``max_backoff_s``. A server's
            ``Retry-After`` header is honoured within the same cap.
        max_backoff_s: Longest wait between two tries.
        extra_body: Parameters merged into every request body (e.g. ``{"top_p": 0.9}``).

    Raises:
        ConfigError: An option is out of range or ``server_kind`` is unknown.
    """

    #: Constraints go to the server's structured-output support; without one it answers unconstrained
    #: (``Generation.route == "none"``) and enforcement still judges the answer.
    can_constrain = True

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 4,
        retries: int = 3,
        server_kind: str = "auto",
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(model_name, str):
            raise ConfigError(f"model_name must be a string, got {type(model_name).__name__}")
        self.base_url = _normalise_base_url(base_url)
        if server_kind not in SERVER_KINDS:
            close = difflib.get_close_matches(str(server_kind), SERVER_KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown server_kind {server_kind!r} (known: {', '.join(SERVER_KINDS)}){hint}")
        _check_number("timeout_s", timeout_s, low=0.0, strict=True)
        _check_number("backoff_s", backoff_s, low=0.0)
        _check_number("max_backoff_s", max_backoff_s, low=0.0)
        if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError(f"extra_body must be a dict, got {type(extra_body).__name__}")
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ConfigError("api_key must be a non-empty string or None")
        self.model_name = model_name
        self.name = model_name or "openai"
        self.timeout_s = float(timeout_s)
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.server_kind = server_kind
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.extra_body = dict(extra_body or {})
        self._api_key = api_key
        self._lock = threading.Lock()
        # (server kind, endpoint, constraint kind) -> why the server refused it; those go unconstrained.
        self._refused: dict[tuple[str, str, str], str] = {}

    # ------------------------------------------------------------------ public
    def __repr__(self) -> str:
        return (
            f"OpenAICompatModel({self.model_name!r}, base_url={_display_url(self.base_url)!r}, "
            f"server_kind={self.server_kind!r})"
        )

    def info(self) -> dict[str, Any]:
        """Facts for reports: name, source, server URL (without credentials), server kind, concurrency."""
        return {
            "name": self.name,
            "source": "openai_compat",
            "base_url": _display_url(self.base_url),
            "server_kind": self.server_kind,
            "detected_kind": _probe_cache.get(self.base_url, (None,))[0],
            "max_concurrency": self.max_concurrency,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
        }

    def detect_server_kind(self) -> str:
        """The server kind in use: ``server_kind`` when set, else detected from ``/models`` (cached).

        Raises:
            GenerationError: The server cannot be reached.
        """
        if self.server_kind != "auto":
            return self.server_kind
        return self._probe()[0]

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        constraint: Constraint | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        """One completion per prompt, sent with at most ``max_concurrency`` requests in flight.

        A ``str`` prompt is already-templated text and goes to ``/completions``; a list of messages goes
        to ``/chat/completions`` (the server applies its chat template). ``seconds`` of each
        :class:`Generation` is that request's own wall time, retries included.

        Raises:
            GenerationError: A request failed for good (server unreachable, timed out, an HTTP error
                after the retries). The message names the prompt index and the cause; requests not
                yet sent are cancelled.
            ConfigError: A prompt is neither text nor a list of messages, or ``max_new_tokens`` < 1.
        """
        if isinstance(prompts, (str, dict)):
            raise ConfigError("generate() takes a sequence of prompts; wrap a single prompt in a list")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        items = [(i, _endpoint_of(p, i)) for i, p in enumerate(prompts)]
        if not items:
            return []
        kind = self.server_kind
        model_name = self.model_name
        if (constraint is not None and kind == "auto") or not model_name:
            kind_found, served = self._probe()
            kind = kind if kind != "auto" else kind_found
            if not model_name:
                if not served:
                    raise GenerationError(
                        f"the server at {_display_url(self.base_url)} lists no models; pass a model name"
                    )
                model_name = served[0]
        base: dict[str, Any] = {"model": model_name, "max_tokens": max_new_tokens, "temperature": temperature}
        if seed is not None:
            base["seed"] = seed
        jobs = [
            _Job(i, endpoint, _body(base, prompts[i], endpoint, self.extra_body)) for i, endpoint in items
        ]
        results: list[Generation | None] = [None] * len(jobs)
        stop = threading.Event()  # set by the first failure: requests not yet sent are skipped
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            futures = {pool.submit(self._one, stop, job, kind, constraint): job.index for job in jobs}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                stop.set()
                for f in pending:
                    f.cancel()
                wait(pending)
                errors = sorted(
                    (futures[f], exc)
                    for f in futures
                    if not f.cancelled() and (exc := f.exception()) is not None
                    if not isinstance(exc, _Skipped)
                )
                raise errors[0][1]
            for fut, i in futures.items():
                results[i] = fut.result()
        return [g for g in results if g is not None]

    # ---------------------------------------------------------------- requests
    def _one(self, stop: threading.Event, job: _Job, kind: str, constraint: Constraint | None) -> Generation:
        if stop.is_set():
            raise _Skipped
        try:
            return self._request(job, kind, constraint)
        except BaseException:
            stop.set()
            raise

    def _request(self, job: _Job, kind: str, constraint: Constraint | None) -> Generation:
        """Send one job; apply ``constraint`` if the server takes it, else (or if refused) send it plain."""
        path = "/chat/completions" if job.endpoint == "chat" else "/completions"
        start = time.perf_counter()
        route: str | None = None
        extra: dict[str, Any] = {"endpoint": job.endpoint, "server_kind": kind}
        payload: _Payload | None = None
        if constraint is not None:
            refused_key = (kind, job.endpoint, constraint.kind)
            with self._lock:
                refused = self._refused.get(refused_key)
            payload = None if refused else _constraint_payload(kind, job.endpoint, constraint)
            if payload is None:
                route = "none"
                extra["fallback"] = (
                    refused or f"{kind} server: no {constraint.kind} support on /{job.endpoint}"
                )
        try:
            if payload is None:
                data, tries = self._post(path, job.body)
            else:
                try:
                    data, tries = self._post(path, {**job.body, **payload.params})
                    route = payload.route
                except _HTTPFailure as exc:
                    # A 500 is what some servers answer when the grammar fails to compile.
                    if exc.status not in _REJECTED_STATUS and exc.status != 500:
                        raise
                    reason = f"server refused {payload.route} on /{job.endpoint}: {exc}"
                    log.info("%s; sending prompt %d unconstrained", reason, job.index)
                    with self._lock:
                        self._refused[refused_key] = reason
                    route = "none"
                    extra["fallback"] = reason
                    data, more = self._post(path, job.body)
                    tries = exc.tries + more
        except _HTTPFailure as exc:
            raise GenerationError(f"prompt {job.index}: {exc}") from None
        seconds = time.perf_counter() - start
        extra["attempts"] = tries
        return _to_generation(data, job.endpoint, seconds, route, extra, self._redact)

    def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """POST ``body`` as JSON, retrying transient failures; the decoded answer and the tries made."""
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                return self._exchange("POST", path, data, self.timeout_s), attempt + 1
            except _HTTPFailure as exc:
                exc.tries = attempt + 1
                if not exc.transient or attempt == self.retries:
                    if exc.transient and self.retries:
                        exc.args = (
                            f"{exc} (gave up after {attempt + 1} tries; raise retries= or fix the server)",
                        )
                    raise
                delay = min(self.max_backoff_s, self.backoff_s * (2**attempt))
                if exc.retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, exc.retry_after))
                log.warning("%s; retry %d/%d in %.2f s", exc, attempt + 1, self.retries, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _exchange(self, method: str, path: str, data: bytes | None, timeout: float) -> dict[str, Any]:
        """One HTTP exchange; raises a classified :class:`_HTTPFailure`."""
        url = self.base_url + path
        shown = _display_url(url)
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = self._redact(_error_detail(exc))
            status = exc.code
            raise _HTTPFailure(
                f"{method} {shown} answered HTTP {status}: {detail}"
                + (" (check api_key)" if status in (401, 403) else ""),
                status=status,
                transient=status in _TRANSIENT_STATUS,
                retry_after=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
            ) from None
        except TimeoutError:
            raise _HTTPFailure(
                f"{method} {shown} timed out after {timeout:g} s (raise timeout_s= for slow generations)"
            ) from None
        except urllib.error.URLError as exc:
            raise _classify_connection_error(exc.reason, method, shown, timeout) from None
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            raise _classify_connection_error(exc, method, shown, timeout) from None
        try:
            decoded = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            head = self._redact(raw[:120].decode("utf-8", "replace"))
            raise _HTTPFailure(
                f"{method} {shown} answered something that is not JSON: {head!r}"
                " (is base_url the API root, e.g. http://host:port/v1?)",
                status=200,
            ) from None
        if not isinstance(decoded, dict):
            raise _HTTPFailure(f"{method} {shown} answered JSON that is not an object", status=200)
        return decoded

    def _probe(self) -> tuple[str, tuple[str, ...]]:
        """``(server kind, served model ids)`` from ``GET /models``, cached per base URL."""
        with _probe_lock:
            cached = _probe_cache.get(self.base_url)
        if cached is not None:
            return cached
        try:
            data = self._exchange("GET", "/models", None, min(self.timeout_s, 10.0))
        except _HTTPFailure as exc:
            if exc.status is None or exc.status in (401, 403):
                raise GenerationError(str(exc)) from None
            # Some servers have no /models; treat them as plain OpenAI-compatible ones.
            log.info("%s; assuming server_kind='openai'", exc)
            found: tuple[str, tuple[str, ...]] = ("openai", ())
        else:
            listed = data.get("data")
            entries: list[Any] = listed if isinstance(listed, list) else []
            ids = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)
            owners = [str(e.get("owned_by", "")).lower() for e in entries if isinstance(e, dict)]
            kind = next((_OWNED_BY[o] for o in owners if o in _OWNED_BY), "openai")
            found = (kind, ids)
        with _probe_lock:
            _probe_cache[self.base_url] = found
        return found

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text


# ------------------------------------------------------------------ helpers
def _constraint_payload(kind: str, endpoint: Endpoint, constraint: Constraint) -> _Payload | None:
    """Request parameters that apply ``constraint`` on a ``kind`` server, or None where it has none."""
    ck = constraint.kind
    if kind == "vllm":
        if ck == "json_schema":
            return _Payload(
                {"response_format": _json_schema_format(constraint.value)}, "vllm:response_format"
            )
        key, legacy = ("regex", "guided_regex") if ck == "regex" else ("grammar", "guided_grammar")
        # vLLM >= 0.10.2 reads structured_outputs (and >= 0.12 only that); older releases read guided_*.
        return _Payload(
            {"structured_outputs": {key: constraint.value}, legacy: constraint.value}, f"vllm:{key}"
        )
    if ck != "json_schema":
        return None
    if kind in ("llamacpp", "llama-cpp-python") and endpoint == "chat":
        return _Payload(
            {"response_format": {"type": "json_object", "schema": constraint.value}},
            f"{kind}:response_format",
        )
    if kind == "llamacpp":
        return _Payload({"json_schema": constraint.value}, "llamacpp:json_schema")
    if kind == "openai" and endpoint == "chat":
        return _Payload({"response_format": _json_schema_format(constraint.value)}, "openai:response_format")
    return None


def _json_schema_format(schema: Any) -> dict[str, Any]:
    title = schema.get("title") if isinstance(schema, dict) else None
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] if isinstance(title, str) else ""
    return {
        "type": "json_schema",
        "json_schema": {"name": name or "output", "schema": schema, "strict": True},
    }


def _to_generation(
    data: dict[str, Any],
    endpoint: Endpoint,
    seconds: float,
    route: str | None,
    extra: dict[str, Any],
    redact: Callable[[str], str],
) -> Generation:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        shown = redact(json.dumps(data)[:_ERROR_BODY_CHARS])
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


def _body(
    base: dict[str, Any], prompt: Prompt, endpoint: Endpoint, extra_body: dict[str, Any]
) -> dict[str, Any]:
    body = dict(base)
    if endpoint == "chat":
        body["messages"] = [dict(m) for m in prompt if isinstance(m, dict)]
    else:
        body["prompt"] = prompt
    body.update(extra_body)
    return body


def _endpoint_of(prompt: Any, index: int) -> Endpoint:
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


def _normalise_base_url(base_url: Any) -> str:
    if not isinstance(base_url, str):
        raise ConfigError(f"base_url must be a string like 'http://127.0.0.1:8000/v1', got {base_url!r}")
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {_display_url(base_url)!r} is not an http(s) URL; give e.g. 'http://127.0.0.1:8000/v1'"
        )
    path = parts.path.rstrip("/") or "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _display_url(url: str) -> str:
    """``url`` without user:password."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_number(name: str, value: Any, *, low: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value > low if strict else value >= low
    if not ok:
        sign = ">" if strict else ">="
        raise ConfigError(f"{name} must be a number {sign} {low:g}, got {value!r}")


def _classify_connection_error(reason: Any, method: str, shown: str, timeout: float) -> _HTTPFailure:
    if isinstance(reason, TimeoutError):
        return _HTTPFailure(
            f"{method} {shown} timed out after {timeout:g} s (raise timeout_s= for slow generations)"
        )
    if isinstance(reason, ConnectionRefusedError):
        return _HTTPFailure(
            f"cannot connect to {shown}: connection refused (is the server running, and is base_url right?)"
        )
    if isinstance(reason, socket.gaierror):
        return _HTTPFailure(f"cannot resolve the host of {shown}: {reason.strerror or reason}")
    if isinstance(reason, (ConnectionError, http.client.HTTPException)):
        # reset, aborted, closed without an answer: the server may be restarting or overloaded
        return _HTTPFailure(f"{method} {shown} lost its connection: {type(reason).__name__}", transient=True)
    return _HTTPFailure(f"{method} {shown} failed: {reason}")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()[:4096].decode("utf-8", "replace")
    except OSError:
        return exc.reason if isinstance(exc.reason, str) else "no detail"
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return raw.strip()[:_ERROR_BODY_CHARS] or str(exc.reason)
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return (err if isinstance(err, str) else json.dumps(err))[:_ERROR_BODY_CHARS]
    return raw.strip()[:_ERROR_BODY_CHARS]


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
