""":class:`OpenAICompatModel`: prompts to a served model, constraints in the server's own dialect."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError, GenerationError
from formbound.models.base import Generation, Model, Prompt
from formbound.models.openai_compat.dialects import (
    Endpoint,
    Payload,
    constraint_payload,
    grammar_dialect,
    kind_from_models,
)
from formbound.models.openai_compat.options import ON_UNSUPPORTED, OnUnsupported, check_options
from formbound.models.openai_compat.transport import (
    HttpxTransport,
    Transport,
    TransportError,
    display_url,
)
from formbound.models.openai_compat.wire import endpoint_of, request_body, to_generation

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["ON_UNSUPPORTED", "OnUnsupported", "OpenAICompatModel"]

log = logging.getLogger("formbound")

#: Statuses that mean "this request is not acceptable": for a constrained request, the constraint.
#: 501 (Not Implemented) is the one 5xx here: it is an answer about the feature, not a failing server.
_REJECTED_STATUS = frozenset({400, 404, 405, 413, 415, 422, 501})


@dataclass(frozen=True)
class _Job:
    """One request of a batch: the prompt's index, its endpoint and the request body (unconstrained)."""

    index: int
    endpoint: Endpoint
    body: dict[str, Any]


class _Skipped(Exception):
    """A request not sent because another request of the batch failed first."""


class OpenAICompatModel(Model):
    """A model served behind an OpenAI-compatible API (vLLM, llama.cpp, llama-cpp-python, OpenAI).

    A ``str`` prompt is already-templated text and goes to ``/completions``; a list of messages goes to
    ``/chat/completions``. A constraint goes in the server's own dialect
    (:mod:`~formbound.models.openai_compat.dialects`); ``server_kind="auto"`` asks ``/models`` once per
    instance and reads ``owned_by``. A server may *ignore* parameters it does not know: output is
    validated afterwards either way.

    Args:
        model_name: The model id the server serves; ``""`` picks the first one ``/models`` lists.
        base_url: The API root, e.g. ``"http://127.0.0.1:8000/v1"``; a URL without a path gets ``/v1``.
        api_key: Sent as ``Authorization: Bearer …`` when given; never shown in errors, logs or ``repr``.
        timeout_s: Seconds one HTTP exchange may wait (connecting, or between bytes of the answer).
        max_concurrency: Requests in flight at once for a batch (and connections kept open).
        retries: Extra tries for a transient failure (429, 5xx, a dropped connection); 0 disables.
        server_kind: ``"auto"``, ``"vllm"``, ``"llamacpp"`` (llama.cpp's ``llama-server``),
            ``"llama-cpp-python"``, ``"openai"`` or ``"none"`` (never send constraints).
        backoff_s: First wait before a retry; doubles each retry, capped at ``max_backoff_s``. A server's
            ``Retry-After`` (seconds or an HTTP date) is honoured within the same cap.
        max_backoff_s: Longest wait between two tries.
        extra_body: Parameters merged into every request body (e.g. ``{"top_p": 0.9}``).
        on_unsupported: When the server cannot take a constraint (no support for its kind or grammar
            dialect, or it refuses the constrained request with a 4xx): ``"raise"`` a
            :class:`~formbound.errors.GenerationError`; ``"warn"`` (default) log a warning on the
            ``formbound`` logger once per reason and send the prompt unconstrained; ``"allow"`` send it
            unconstrained silently. Either way ``Generation.route == "none"`` and
            ``Generation.extra["fallback"]`` says why.
        transport: How requests travel; default a pooled ``httpx`` client built from the options above
            (:func:`~formbound.models.openai_compat.from_openai` passes an ``openai`` SDK client's).

    Raises:
        ConfigError: An option is out of range, or ``server_kind`` / ``on_unsupported`` is unknown.
    """

    #: Constraints go to the server's structured-output support (see ``on_unsupported``).
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
        on_unsupported: OnUnsupported = "warn",
        transport: Transport | None = None,
    ) -> None:
        self.base_url = check_options(
            model_name,
            base_url=base_url,
            server_kind=server_kind,
            on_unsupported=on_unsupported,
            timeout_s=timeout_s,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_concurrency=max_concurrency,
            retries=retries,
            extra_body=extra_body,
            api_key=api_key,
        )
        self.model_name = model_name
        self.name = model_name or "openai"
        self.timeout_s = float(timeout_s)
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.server_kind = server_kind
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.extra_body = dict(extra_body or {})
        self.on_unsupported: OnUnsupported = on_unsupported
        self._api_key = api_key
        self._source = "openai_compat" if transport is None else "openai_sdk"
        self._transport: Transport = transport or HttpxTransport(
            self.base_url,
            api_key=api_key,
            timeout_s=self.timeout_s,
            retries=retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            max_connections=max_concurrency,
            redact=self._redact,
        )
        self._lock = threading.Lock()
        # (server kind, endpoint, constraint kind, dialect) -> why the server refused it.
        self._refused: dict[tuple[str, str, str, str | None], str] = {}
        self._warned: set[str] = set()
        self._probed: tuple[str, tuple[str, ...]] | None = None

    # ------------------------------------------------------------------ public
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.model_name!r}, base_url={display_url(self.base_url)!r}, "
            f"server_kind={self.server_kind!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """Facts for reports: name, source, server URL (without credentials), server kind, concurrency."""
        return {
            "name": self.name,
            "source": self._source,
            "base_url": display_url(self.base_url),
            "server_kind": self.server_kind,
            "detected_kind": self._probed[0] if self._probed else None,
            "max_concurrency": self.max_concurrency,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "on_unsupported": self.on_unsupported,
        }

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones; see ``from_openai`` for a client)."""
        self._transport.close()

    def __enter__(self) -> OpenAICompatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect_server_kind(self) -> str:
        """The server kind in use: ``server_kind`` when set, else detected from ``/models`` (once).

        Raises:
            GenerationError: The server cannot be reached, or ``/models`` keeps failing.
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

        ``seconds`` of each :class:`Generation` is that request's own wall time, retries included.

        Raises:
            GenerationError: A request failed for good (server unreachable, timed out, an HTTP error
                after the retries), or the server cannot take ``constraint`` and ``on_unsupported`` is
                ``"raise"``. The message names the prompt index and the cause; requests not yet sent
                are cancelled.
            ConfigError: A prompt is neither text nor a list of messages, or ``max_new_tokens`` < 1.
        """
        if isinstance(prompts, (str, dict)):
            raise ConfigError("generate() takes a sequence of prompts; wrap a single prompt in a list")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        items = [(i, endpoint_of(p, i)) for i, p in enumerate(prompts)]
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
                        f"the server at {display_url(self.base_url)} lists no models; pass a model name"
                    )
                model_name = served[0]
        if constraint is not None and self.on_unsupported == "raise":
            for endpoint in sorted({e for _, e in items}):
                payload = constraint_payload(kind, endpoint, constraint)
                if isinstance(payload, str):
                    raise GenerationError(self._refusal_message(payload))
        base: dict[str, Any] = {"model": model_name, "max_tokens": max_new_tokens, "temperature": temperature}
        if seed is not None:
            base["seed"] = seed
        jobs = [_Job(i, e, request_body(base, prompts[i], e, self.extra_body)) for i, e in items]
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
                    ((futures[f], exc) for f in futures if not f.cancelled() and (exc := f.exception())),
                    key=lambda pair: pair[0],
                )
                raise next(exc for _, exc in errors if not isinstance(exc, _Skipped))
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
        """Send one job; apply ``constraint`` if the server takes it, else (by the policy) send it plain."""
        path = "/chat/completions" if job.endpoint == "chat" else "/completions"
        start = time.perf_counter()
        route: str | None = None
        extra: dict[str, Any] = {"endpoint": job.endpoint, "server_kind": kind}
        payload: Payload | None = None
        refused_key = None
        if constraint is not None:
            refused_key = (kind, job.endpoint, constraint.kind, grammar_dialect(constraint))
            with self._lock:
                refused = self._refused.get(refused_key)
            found = refused or constraint_payload(kind, job.endpoint, constraint)
            if isinstance(found, str):
                route = "none"
                extra["fallback"] = self._fall_back(found)
            else:
                payload = found
        try:
            if payload is None:
                data, tries = self._transport.request("POST", path, job.body)
            else:
                try:
                    data, tries = self._transport.request("POST", path, {**job.body, **payload.params})
                    route = payload.route
                except TransportError as exc:
                    if exc.status not in _REJECTED_STATUS:
                        raise  # a 5xx that survived the retries is the server failing, not a refusal
                    reason = f"server refused {payload.route} on /{job.endpoint}: {exc}"
                    if refused_key is not None:
                        with self._lock:
                            self._refused[refused_key] = reason
                    route = "none"
                    extra["fallback"] = self._fall_back(reason)
                    data, more = self._transport.request("POST", path, job.body)
                    tries = exc.tries + more
        except TransportError as exc:
            raise GenerationError(f"prompt {job.index}: {self._redact(str(exc))}") from None
        extra["attempts"] = tries
        return to_generation(data, job.endpoint, time.perf_counter() - start, route, extra, self._redact)

    def _fall_back(self, reason: str) -> str:
        """Apply ``on_unsupported`` to ``reason``: raise, or warn once, and return the reason to record."""
        if self.on_unsupported == "raise":
            raise GenerationError(self._refusal_message(reason))
        if self.on_unsupported == "warn":
            with self._lock:
                first = reason not in self._warned
                self._warned.add(reason)
            if first:
                log.warning(
                    "%s; sending prompts unconstrained (enforce still judges them; "
                    "on_unsupported='raise' refuses instead, 'allow' silences this)",
                    self._redact(reason),
                )
        return self._redact(reason)

    def _refusal_message(self, reason: str) -> str:
        return (
            f"{self._redact(reason)}; on_unsupported='raise' refuses to generate unconstrained "
            "(pass on_unsupported='warn' or 'allow' to send the prompt without the constraint, or use a "
            "constraint the server takes)"
        )

    def _probe(self) -> tuple[str, tuple[str, ...]]:
        """``(server kind, served model ids)`` from ``GET /models``, asked once per instance."""
        with self._lock:
            if self._probed is not None:
                return self._probed
        try:
            data, _ = self._transport.request("GET", "/models", timeout=min(self.timeout_s, 10.0))
        except TransportError as exc:
            if exc.status is None or exc.status in (401, 403) or exc.transient:
                raise GenerationError(self._redact(str(exc))) from None
            # Some servers have no /models; treat them as plain OpenAI-compatible ones.
            log.info("%s; assuming server_kind='openai'", self._redact(str(exc)))
            found: tuple[str, tuple[str, ...]] = ("openai", ())
        else:
            found = kind_from_models(data)
        with self._lock:
            self._probed = found
        return found

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text
