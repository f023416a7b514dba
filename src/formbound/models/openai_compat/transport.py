"""HTTP for served models: a pooled ``httpx`` client, retries with backoff that honour ``Retry-After``.

A :class:`Transport` sends one JSON request and returns the decoded answer with the number of tries it
took, or raises a classified :class:`TransportError`. :class:`HttpxTransport` is the default;
:mod:`formbound.models.openai_compat.sdk` drives an ``openai`` SDK client behind the same interface.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from formbound.errors import DependencyError

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpxTransport", "Transport", "TransportError", "display_url", "retry_after_seconds"]

log = logging.getLogger("formbound")

#: HTTP statuses worth retrying: the server is busy, restarting or timed out on its side.
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
ERROR_BODY_CHARS = 300

_sleep = time.sleep  # tests record the waits through this


class TransportError(Exception):
    """A failed HTTP exchange, classified; turned into a GenerationError at the edge.

    Attributes:
        status: The HTTP status, or ``None`` when no answer came (refused, timed out, dropped).
        transient: Whether trying again may help (429, 5xx, a dropped connection).
        retry_after: Seconds the server asked to wait (``Retry-After``), if it did.
        tries: Tries made before giving up.
    """

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
        self.tries = 1


class Transport(Protocol):
    """Sends JSON requests to an OpenAI-compatible API root."""

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> tuple[dict[str, Any], int]:
        """``(decoded JSON object, tries made)``; raises :class:`TransportError`."""

    def close(self) -> None:
        """Release pooled connections."""


class HttpxTransport:
    """One pooled ``httpx.Client`` (``max_connections`` sockets, reused across requests and batches).

    Args:
        base_url: The API root, e.g. ``"http://127.0.0.1:8000/v1"``.
        api_key: Sent as ``Authorization: Bearer …`` when given.
        timeout_s: Seconds to connect, or to wait between bytes of an answer.
        retries: Extra tries for a transient failure; a timeout is not retried (the server is still
            working on it, and a re-send doubles its load).
        backoff_s: First wait; doubles each retry. ``Retry-After`` (seconds or an HTTP date) is honoured.
        max_backoff_s: Cap on any wait, ``Retry-After`` included.
        max_connections: Connections kept in the pool.
        redact: Removes secrets from text shown in errors and logs.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        max_backoff_s: float,
        max_connections: int,
        redact: Callable[[str], str],
    ) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._headers = {"Accept": "application/json"}
        if api_key is not None:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._max_connections = max_connections
        self._redact = redact
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError as exc:
                    raise DependencyError(
                        "a served model needs httpx: pip install 'formbound[served]'"
                    ) from exc
                n = self._max_connections
                self._client = httpx.Client(
                    headers=self._headers,
                    timeout=httpx.Timeout(self.timeout_s),
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __del__(self) -> None:
        # a dropped model must not leave open sockets behind (ResourceWarning)
        client = self.__dict__.get("_client")
        if client is not None:
            client.close()

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> tuple[dict[str, Any], int]:
        for attempt in range(self.retries + 1):
            try:
                return self._exchange(method, path, body, timeout or self.timeout_s), attempt + 1
            except TransportError as exc:
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
                _sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _exchange(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        import httpx

        url = self.base_url + path
        shown = display_url(url)
        try:
            response = self._http().request(method, url, json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise TransportError(
                f"{method} {shown} timed out after {timeout:g} s (raise timeout_s= for slow generations)"
            ) from None
        except httpx.ConnectError as exc:
            raise _connect_failure(exc, shown) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # reset, aborted, closed without an answer: the server may be restarting or overloaded
            raise TransportError(
                f"{method} {shown} lost its connection: {type(exc).__name__}", transient=True
            ) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {shown} failed: {self._redact(str(exc))}") from None
        if response.status_code >= 400:
            status = response.status_code
            detail = self._redact(error_detail(response.content, response.reason_phrase))
            raise TransportError(
                f"{method} {shown} answered HTTP {status}: {detail}"
                + (" (check api_key)" if status in (401, 403) else ""),
                status=status,
                transient=status in TRANSIENT_STATUS,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        try:
            decoded = json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            head = self._redact(response.content[:120].decode("utf-8", "replace"))
            raise TransportError(
                f"{method} {shown} answered something that is not JSON: {head!r}"
                " (is base_url the API root, e.g. http://host:port/v1?)",
                status=response.status_code,
            ) from None
        if not isinstance(decoded, dict):
            raise TransportError(
                f"{method} {shown} answered JSON that is not an object", status=response.status_code
            )
        return decoded


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header: a number of seconds or an HTTP date.

    >>> retry_after_seconds("2.5")
    2.5
    >>> now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    >>> retry_after_seconds("Thu, 01 Jan 2026 12:00:03 GMT", now=now)
    3.0
    >>> retry_after_seconds("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN, inf
        return None
    return max(0.0, seconds)


def error_detail(raw_bytes: bytes, reason: str) -> str:
    """The message of an error answer: ``error.message``, ``detail`` or the start of the body."""
    raw = raw_bytes[:4096].decode("utf-8", "replace")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return raw.strip()[:ERROR_BODY_CHARS] or reason or "no detail"
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return (err if isinstance(err, str) else json.dumps(err))[:ERROR_BODY_CHARS]
    return raw.strip()[:ERROR_BODY_CHARS]


def display_url(url: str) -> str:
    """``url`` without user:password."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _connect_failure(exc: BaseException, shown: str) -> TransportError:
    """A failure to connect: refused or unresolvable (never retried: the server is not there)."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(c) for c in chain).lower()
    if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in text:
        return TransportError(
            f"cannot connect to {shown}: connection refused (is the server running, and is base_url right?)"
        )
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return TransportError(f"cannot resolve the host of {shown}: {exc}")
    return TransportError(f"cannot connect to {shown}: {exc}")
