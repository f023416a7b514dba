"""Models served behind an OpenAI-compatible HTTP API (vLLM, llama.cpp's server, llama-cpp-python, OpenAI).

* :mod:`.dialects` — how each server kind takes a constraint (the real value of this package);
* :mod:`.transport` — HTTP on a pooled ``httpx`` client, retries that honour ``Retry-After``;
* :mod:`.model` — :class:`OpenAICompatModel`: batches, the ``/models`` probe, the ``on_unsupported`` policy;
* :mod:`.sdk` — :func:`from_openai`: the same model over an ``openai`` SDK client you already hold.

Neither ``httpx`` nor ``openai`` is imported until a request is sent or a client is wrapped.
"""

from __future__ import annotations

from formbound.models.openai_compat.dialects import SERVER_KINDS
from formbound.models.openai_compat.model import ON_UNSUPPORTED, OnUnsupported, OpenAICompatModel
from formbound.models.openai_compat.sdk import from_openai

__all__ = ["ON_UNSUPPORTED", "SERVER_KINDS", "OnUnsupported", "OpenAICompatModel", "from_openai"]
