"""How each OpenAI-compatible server takes a constraint: the request parameters, per server kind.

* ``vllm``: a JSON schema as ``response_format`` (type ``json_schema``); a regex or Lark grammar as
  ``structured_outputs`` (vLLM >= 0.10.2) together with ``guided_regex`` / ``guided_grammar`` (older
  releases; newer ones ignore them). Its ``auto`` backend hands a Lark grammar that xgrammar cannot
  convert to llguidance, so llguidance's Lark dialect is accepted.
* ``llamacpp`` (llama.cpp's ``llama-server``): a JSON schema as ``response_format`` (type
  ``json_object`` with ``schema``) for chat, as ``json_schema`` for text prompts. Regex and Lark are
  not sent: its grammar language is GBNF, and formbound's Lark grammars use llguidance features
  (regex terminals with ``&`` / ``~``) that have no GBNF equivalent.
* ``llama-cpp-python``: a JSON schema as ``response_format`` (``json_object`` with ``schema``) for chat
  only; its ``/completions`` takes nothing but GBNF.
* ``openai``: a JSON schema as ``response_format`` (type ``json_schema``, ``strict``) for chat only.
* ``none``: nothing is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["SERVER_KINDS", "Endpoint", "Payload", "constraint_payload", "grammar_dialect", "kind_from_models"]

#: Accepted values of ``server_kind``.
SERVER_KINDS: tuple[str, ...] = ("auto", "vllm", "llamacpp", "llama-cpp-python", "openai", "none")

Endpoint = Literal["chat", "completions"]

#: ``owned_by`` of a ``/models`` entry -> server kind; anything else is treated as plain ``"openai"``.
_OWNED_BY: dict[str, str] = {
    "vllm": "vllm",
    "llamacpp": "llamacpp",
    "me": "llama-cpp-python",
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
}

#: Grammar dialects each server kind takes for a ``lark`` constraint.
_GRAMMAR_DIALECTS: dict[str, frozenset[str]] = {"vllm": frozenset({"llguidance", "lark"})}


@dataclass(frozen=True)
class Payload:
    """Constraint parameters for one request, and the route name recorded when they are used."""

    params: dict[str, Any]
    route: str


def grammar_dialect(constraint: Constraint) -> str | None:
    """The grammar dialect of a ``lark`` constraint (``None`` for a schema or a regex).

    A constraint that does not name its dialect holds llguidance's Lark, the one formbound's grammars use.
    """
    if constraint.kind != "lark":
        return None
    dialect = getattr(constraint, "dialect", None)
    if not dialect or dialect == "lark-llguidance":  # formbound's grammars: llguidance's Lark operators
        return "llguidance"
    return str(dialect)


def constraint_payload(kind: str, endpoint: Endpoint, constraint: Constraint) -> Payload | str:
    """Request parameters that apply ``constraint`` on a ``kind`` server, or why it cannot take it."""
    ck = constraint.kind
    dialect = grammar_dialect(constraint)
    if kind == "vllm":
        if ck == "json_schema":
            return Payload({"response_format": json_schema_format(constraint.value)}, "vllm:response_format")
        if dialect is not None and dialect not in _GRAMMAR_DIALECTS["vllm"]:
            return f"vllm server: no {dialect} grammars (it takes Lark in llguidance's dialect)"
        key, legacy = ("regex", "guided_regex") if ck == "regex" else ("grammar", "guided_grammar")
        # vLLM >= 0.10.2 reads structured_outputs (and >= 0.12 only that); older releases read guided_*.
        return Payload(
            {"structured_outputs": {key: constraint.value}, legacy: constraint.value}, f"vllm:{key}"
        )
    what = f"{dialect} grammar" if dialect is not None else ck
    unsupported = f"{kind} server: no {what} support on /{endpoint}"
    if ck != "json_schema":
        return unsupported
    if kind in ("llamacpp", "llama-cpp-python") and endpoint == "chat":
        return Payload(
            {"response_format": {"type": "json_object", "schema": constraint.value}},
            f"{kind}:response_format",
        )
    if kind == "llamacpp":
        return Payload({"json_schema": constraint.value}, "llamacpp:json_schema")
    if kind == "openai" and endpoint == "chat":
        return Payload({"response_format": json_schema_format(constraint.value)}, "openai:response_format")
    return unsupported


def json_schema_format(schema: Any) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON schema, named after its title."""
    title = schema.get("title") if isinstance(schema, dict) else None
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] if isinstance(title, str) else ""
    return {
        "type": "json_schema",
        "json_schema": {"name": name or "output", "schema": schema, "strict": True},
    }


def kind_from_models(data: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``(server kind, served model ids)`` from a ``/models`` answer, read off ``owned_by``."""
    listed = data.get("data")
    entries: list[Any] = listed if isinstance(listed, list) else []
    ids = tuple(str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e)
    owners = [str(e.get("owned_by", "")).lower() for e in entries if isinstance(e, dict)]
    return next((_OWNED_BY[o] for o in owners if o in _OWNED_BY), "openai"), ids
