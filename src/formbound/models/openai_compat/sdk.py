"""An ``openai`` SDK client you already hold, as a model source: :func:`from_openai`.

The client's own settings apply: base URL, key, timeout, ``max_retries`` (the SDK's backoff honours
``Retry-After``), headers. formbound adds what it adds to any served model: the server-dialect mapping of
constraints (``response_format`` with a JSON schema for OpenAI itself), the ``/models`` probe, bounded
concurrency and the ``on_unsupported`` policy.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from formbound.errors import ConfigError, DependencyError
from formbound.models.openai_compat.model import OnUnsupported, OpenAICompatModel
from formbound.models.openai_compat.transport import TRANSIENT_STATUS, TransportError, display_url

__all__ = ["SDKTransport", "from_openai"]

# Keyword arguments of the SDK's create() that formbound never fills from a request body.
_RESERVED = frozenset({"extra_body", "extra_headers", "extra_query", "timeout", "stream"})


def from_openai(
    client: Any,
    model: str,
    *,
    server_kind: str = "auto",
    max_concurrency: int = 4,
    on_unsupported: OnUnsupported = "warn",
    extra_body: dict[str, Any] | None = None,
) -> OpenAICompatModel:
    """A :class:`~formbound.models.Model` that generates through an ``openai.OpenAI`` or
    ``openai.AsyncOpenAI`` client.

    Constraints use the server's structured-output support: ``response_format={"type": "json_schema",
    ...}`` on OpenAI, and each compatible server's own dialect elsewhere (``server_kind="auto"`` asks
    ``client.models.list()`` once). An ``AsyncOpenAI`` client runs on an event-loop thread of its own
    (one per client: its pooled connections belong to that loop), so ``generate`` stays a plain call and
    ``Generator.agenerate`` works on it; do not share that client with your own event loop as well.

    Args:
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` instance.
        model: The model id to ask for.
        server_kind: As for :class:`OpenAICompatModel`.
        max_concurrency: Requests in flight at once for a batch.
        on_unsupported: ``"raise"``, ``"warn"`` or ``"allow"``, as for :class:`OpenAICompatModel`.
        extra_body: Parameters merged into every request body.

    Raises:
        DependencyError: The ``openai`` package is not installed.
        ConfigError: ``client`` is not an ``openai`` client, or ``model`` is empty.

    Example:
        >>> import openai  # doctest: +SKIP
        >>> from formbound import Generator, models  # doctest: +SKIP
        >>> client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none")  # doctest: +SKIP
        >>> gen = Generator(models.from_openai(client, model="smollm2"), Person)  # doctest: +SKIP
    """
    try:
        import openai
    except ImportError as exc:
        raise DependencyError("from_openai needs the openai SDK: pip install 'formbound[openai]'") from exc
    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise ConfigError(
            f"from_openai takes an openai.OpenAI or openai.AsyncOpenAI client, got {type(client).__name__}; "
            "for a server URL use models.load('openai:MODEL', base_url=...)"
        )
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"from_openai needs the model id to ask for, got model={model!r}")
    key = client.api_key if isinstance(client.api_key, str) and client.api_key.strip() else None
    return OpenAICompatModel(
        model,
        base_url=str(client.base_url),
        api_key=key,  # only redacted from messages: the client sends its own
        timeout_s=_timeout_of(client),
        max_concurrency=max_concurrency,
        retries=int(client.max_retries),
        server_kind=server_kind,
        extra_body=extra_body,
        on_unsupported=on_unsupported,
        transport=SDKTransport(client),
    )


class SDKTransport:
    """Sends formbound's requests through an ``openai`` client's typed resources."""

    def __init__(self, client: Any) -> None:
        import openai

        self.client = client
        self._openai = openai
        self._async = isinstance(client, openai.AsyncOpenAI)
        self._shown = display_url(str(client.base_url)).rstrip("/")

    def close(self) -> None:
        """Close an ``AsyncOpenAI`` client (its connections live on the loop formbound drives it on, so
        only that loop can close them); a sync client is left open for its owner."""
        if self._async:
            _loop_for(self.client).run(self.client.close())

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> tuple[dict[str, Any], int]:
        if method == "GET" and path == "/models":
            return self._call(self._models, timeout), 1
        if method != "POST" or path not in ("/chat/completions", "/completions") or body is None:
            raise TransportError(f"{method} {path} is not a request formbound sends through the SDK")
        resource = self.client.chat.completions if path == "/chat/completions" else self.client.completions
        create = resource.with_raw_response.create
        known = set(inspect.signature(resource.create).parameters) - _RESERVED
        kwargs = {k: v for k, v in body.items() if k in known}
        rest = {k: v for k, v in body.items() if k not in known}
        if rest:
            kwargs["extra_body"] = rest  # e.g. vLLM's structured_outputs, llama.cpp's json_schema

        async def send_async() -> tuple[dict[str, Any], int]:
            raw = await create(**kwargs)
            parsed = raw.parse()
            if inspect.isawaitable(parsed):
                parsed = await parsed
            return parsed.model_dump(), int(getattr(raw, "retries_taken", 0)) + 1

        def send() -> tuple[dict[str, Any], int]:
            raw = create(**kwargs)
            return raw.parse().model_dump(), int(getattr(raw, "retries_taken", 0)) + 1

        return self._call(send_async if self._async else send, timeout, method, path)

    def _models(self) -> Any:
        if self._async:

            async def listed() -> dict[str, Any]:
                page = await self.client.models.list()
                return {"data": [m.model_dump() for m in page.data]}

            return listed()
        return {"data": [m.model_dump() for m in self.client.models.list().data]}

    def _call(
        self, fn: Callable[[], Any], timeout: float | None, method: str = "GET", path: str = "/models"
    ) -> Any:
        oa = self._openai
        shown = f"{method} {self._shown}{path}"
        try:
            result = fn()
            if inspect.iscoroutine(result):
                result = _loop_for(self.client).run(result)
            return result
        except oa.APIStatusError as exc:
            status = exc.status_code
            raise TransportError(
                f"{shown} answered HTTP {status}: {exc.message}"
                + (" (check the client's api_key)" if status in (401, 403) else ""),
                status=status,
                # the client has already retried it as often as its max_retries allows
                transient=status in TRANSIENT_STATUS,
            ) from None
        except oa.APITimeoutError:
            raise TransportError(
                f"{shown} timed out (raise the client's timeout= for slow generations)"
            ) from None
        except oa.APIConnectionError as exc:
            raise TransportError(
                f"cannot connect to {self._shown}: {exc.__cause__ or exc} (is the server running, and is the "
                "client's base_url right?)",
                status=None,
            ) from None
        except oa.APIResponseValidationError as exc:
            raise TransportError(
                f"{shown} answered something the SDK cannot read: {exc}", status=200
            ) from None


_loops: weakref.WeakKeyDictionary[Any, _LoopThread] = weakref.WeakKeyDictionary()
_loops_lock = threading.Lock()


def _loop_for(client: Any) -> _LoopThread:
    """The event loop that drives ``client``: one per ``AsyncOpenAI`` client, since its pooled
    connections belong to the loop that opened them. It stops when the client is collected."""
    with _loops_lock:
        loop = _loops.get(client)
        if loop is None:
            loop = _loops[client] = _LoopThread()
            weakref.finalize(client, loop.stop)
        return loop


class _LoopThread:
    """An event loop on a daemon thread, for driving an ``AsyncOpenAI`` client from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="formbound-openai", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)


def _timeout_of(client: Any) -> float:
    """The client's read timeout in seconds, for ``info()`` (the client enforces its own)."""
    timeout = client.timeout
    for value in (getattr(timeout, "read", None), timeout):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 600.0
