"""The options of :class:`~.model.OpenAICompatModel`, checked before anything is sent."""

from __future__ import annotations

import difflib
import urllib.parse
from typing import Any, Literal

from formbound.errors import ConfigError
from formbound.models.openai_compat.dialects import SERVER_KINDS
from formbound.models.openai_compat.transport import display_url

__all__ = [
    "ON_UNSUPPORTED",
    "OnUnsupported",
    "check_choice",
    "check_number",
    "check_options",
    "normalise_base_url",
]

OnUnsupported = Literal["raise", "warn", "allow"]
#: What happens when the server cannot take a constraint (sqlglot's ErrorLevel style).
ON_UNSUPPORTED: tuple[str, ...] = ("raise", "warn", "allow")


def check_options(
    model_name: Any,
    *,
    base_url: Any,
    server_kind: Any,
    on_unsupported: Any,
    timeout_s: Any,
    backoff_s: Any,
    max_backoff_s: Any,
    max_concurrency: Any,
    retries: Any,
    extra_body: Any,
    api_key: Any,
) -> str:
    """The normalised ``base_url``; raises ConfigError naming the first option that is out of range or
    of the wrong type."""
    if not isinstance(model_name, str):
        raise ConfigError(f"model_name must be a string, got {type(model_name).__name__}")
    url = normalise_base_url(base_url)
    check_choice("server_kind", server_kind, SERVER_KINDS)
    check_choice("on_unsupported", on_unsupported, ON_UNSUPPORTED)
    check_number("timeout_s", timeout_s, low=0.0, strict=True)
    check_number("backoff_s", backoff_s, low=0.0)
    check_number("max_backoff_s", max_backoff_s, low=0.0)
    if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ConfigError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
    if extra_body is not None and not isinstance(extra_body, dict):
        raise ConfigError(f"extra_body must be a dict, got {type(extra_body).__name__}")
    if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
        raise ConfigError("api_key must be a non-empty string or None")
    return url


def normalise_base_url(base_url: Any) -> str:
    """``base_url`` checked as an http(s) URL, without a trailing slash (``/v1`` when it has no path)."""
    if not isinstance(base_url, str):
        raise ConfigError(f"base_url must be a string like 'http://127.0.0.1:8000/v1', got {base_url!r}")
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {display_url(base_url)!r} is not an http(s) URL; give e.g. 'http://127.0.0.1:8000/v1'"
        )
    path = parts.path.rstrip("/") or "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ConfigError with "did you mean" unless ``value`` is one of ``choices``."""
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {name} {value!r} (known: {', '.join(choices)}){hint}")


def check_number(name: str, value: Any, *, low: float, strict: bool = False) -> None:
    """Raise ConfigError unless ``value`` is a number above ``low`` (``strict``) or at least ``low``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value > low if strict else value >= low
    if not ok:
        sign = ">" if strict else ">="
        raise ConfigError(f"{name} must be a number {sign} {low:g}, got {value!r}")
