"""Prompts rendered from a spec: format instructions, the schema's shape, few-shot examples, re-asks.

The wording lives in jinja2 templates shipped next to this module (``*.j2``). The functions return chat
messages; a model source applies its tokenizer's chat template to them (once).

>>> from formbound.errors import EnforcementError, Issue
>>> err = EnforcementError("schema", [Issue("'age' is a required property", path="")], "{}")
>>> reask_messages([{"role": "user", "content": "Who?"}], "{}", err)[-1]["content"].splitlines()[0]
'Your previous answer was rejected (schema error):'
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from formbound.errors import ConfigError, EnforcementError

if TYPE_CHECKING:
    import jinja2

    from formbound.spec import Spec

__all__ = ["FORMAT_NAMES", "build_messages", "reask_messages", "render_template"]

#: How formats are called in prompts.
FORMAT_NAMES: dict[str, str] = {"json": "JSON", "yaml": "YAML", "sql": "SQL"}
#: Issues shown in a re-ask; more are counted, not listed (a small model drowns in a long list).
REASK_LIMIT = 8
Style = Literal["raw", "prompted"]


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("formbound", "prompts"),
        autoescape=False,  # plain text for a model, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )


def render_template(name: str, **context: Any) -> str:
    """Render the packaged template ``name`` (e.g. ``"system.j2"``), stripped of outer blank lines."""
    return _environment().get_template(name).render(**context).strip()


def _format_of(spec: Spec) -> tuple[str, str]:
    fmt = str(getattr(spec, "format", "") or "output")
    return fmt, FORMAT_NAMES.get(fmt, fmt.upper() if fmt != "output" else "output")


def build_messages(
    spec: Spec,
    task_input: str,
    *,
    instruction: str | None = None,
    examples: Sequence[tuple[str, str]] = (),
    style: Style = "prompted",
) -> list[dict[str, str]]:
    """Chat messages asking for ``task_input`` to be answered in ``spec``'s format.

    Args:
        spec: What the answer must be (its format names the output; its rendered schema shows the shape).
        task_input: The text to work on (a document to extract from, a question to turn into SQL …).
        instruction: What to do, e.g. ``"Extract the contact card."``.
        examples: Few-shot ``(input, output)`` pairs, shown as earlier user/assistant turns.
        style: ``"raw"``: only the input and a one-line request (``instruction`` or "Answer in JSON only.");
            ``"prompted"``: a system message with concise format instructions and the schema's compact
            shape, the examples, then the input.

    Returns:
        ``[{"role": ..., "content": ...}, ...]``, ending with the user's turn.

    >>> from formbound import Spec
    >>> msgs = build_messages(Spec.json({"type": "object"}), "Ada, 36", style="raw")
    >>> msgs[0]["content"]
    'Ada, 36\\n\\nAnswer in JSON only.'
    """
    if style not in ("raw", "prompted"):
        raise ConfigError(f"unknown prompt style {style!r}; use 'raw' or 'prompted'")
    if not isinstance(task_input, str):
        raise ConfigError(f"task_input must be text, got {type(task_input).__name__}")
    fmt, fmt_name = _format_of(spec)
    if style == "raw":
        request = instruction or f"Answer in {fmt_name} only."
        return [
            {"role": "user", "content": render_template("raw.j2", task_input=task_input, request=request)}
        ]
    system = render_template(
        "system.j2",
        instruction=instruction,
        format=fmt,
        format_name=fmt_name,
        dialect=getattr(spec, "dialect", None),
        schema=spec.render_schema(),
    )
    messages = [{"role": "system", "content": system}]
    for pair in examples:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ConfigError(f"a few-shot example must be an (input, output) pair, got {pair!r}")
        example_input, example_output = pair
        messages.append({"role": "user", "content": str(example_input)})
        messages.append({"role": "assistant", "content": str(example_output)})
    messages.append({"role": "user", "content": task_input})
    return messages


def reask_messages(
    messages: Sequence[dict[str, str]],
    answer: str,
    error: EnforcementError,
    *,
    format: str | None = None,
) -> list[dict[str, str]]:
    """``messages`` plus the model's ``answer`` and a user turn listing what the validator rejected.

    Args:
        messages: The conversation that produced ``answer``.
        answer: The rejected model output.
        error: What enforcement found wrong with it.
        format: Format name to ask for (``"json"``…); a generic "output" when omitted.
    """
    if not isinstance(error, EnforcementError):
        raise ConfigError(f"reask_messages needs an EnforcementError, got {type(error).__name__}")
    fmt_name = FORMAT_NAMES.get(format or "", format.upper() if format else "output")
    shown = error.errors[:REASK_LIMIT]
    content = render_template(
        "reask.j2",
        error=error,
        issues=[str(issue) for issue in shown],
        more=len(error.errors) - len(shown),
        format_name=fmt_name,
    )
    return [
        *(dict(m) for m in messages),
        {"role": "assistant", "content": answer},
        {"role": "user", "content": content},
    ]
