"""``enforce(text, spec)``: check, repair, return typed data or raise a precise error; and the re-ask loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from formbound.errors import Attempt, ConfigError, EnforcementError, Issue
from formbound.spec import Spec

if TYPE_CHECKING:
    from formbound.models.base import Generation

T = TypeVar("T")

__all__ = ["DEFAULT_MAX_CHARS", "Result", "enforce", "guard"]

#: Texts longer than this are rejected before parsing (bounded time and memory). Override per call.
DEFAULT_MAX_CHARS = 4_000_000


class Result(Generic[T]):
    """A text that satisfies a spec.

    Attributes:
        value: The data: python objects for JSON/YAML, a pydantic instance for a pydantic spec, a sqlglot
            expression for SQL.
        text: Canonical text of ``value`` in the spec's format (rendered on first access).
        repairs: Names of the repairs applied, in order; empty when the text was valid as given.
        raw: The text as given.
        spec: The spec the value satisfies.
        attempts: Every attempt of a re-ask loop (empty outside one).
        generations: The model generations this result came from (tokens, seconds, route, finish
            reason), one per attempt; empty when the text did not come from :class:`formbound.Generator`.
        chosen: Index into ``generations`` of the attempt handed on.
    """

    __slots__ = ("_text", "attempts", "chosen", "generations", "raw", "repairs", "spec", "value")

    def __init__(
        self,
        value: T,
        spec: Spec,
        repairs: tuple[str, ...] = (),
        raw: str = "",
        attempts: tuple[Attempt, ...] = (),
        *,
        generations: tuple[Generation, ...] = (),
        chosen: int = 0,
    ) -> None:
        self.value: T = value
        self.spec = spec
        self.repairs = tuple(repairs)
        self.raw = raw
        self.attempts = tuple(attempts)
        self.generations = tuple(generations)
        self.chosen = chosen
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.spec.dump(self.value)
        return self._text

    @property
    def repaired(self) -> bool:
        return bool(self.repairs)

    def __repr__(self) -> str:
        return f"Result(value={self.value!r}, repairs={self.repairs!r})"


def _stage_rank(spec: Spec, err: EnforcementError) -> int:
    try:
        return spec.stages.index(err.stage)
    except ValueError:
        return len(spec.stages)


@overload
def enforce(
    text: Any,
    spec: type[T],
    *,
    repair: bool = ...,
    max_chars: int = ...,
    finish_reason: str | None = ...,
    allow_truncated: bool = ...,
) -> Result[T]: ...
@overload
def enforce(
    text: Any,
    spec: Any,
    *,
    repair: bool = ...,
    max_chars: int = ...,
    finish_reason: str | None = ...,
    allow_truncated: bool = ...,
) -> Result[Any]: ...
def enforce(
    text: Any,
    spec: Any,
    *,
    repair: bool = True,
    max_chars: int = DEFAULT_MAX_CHARS,
    finish_reason: str | None = None,
    allow_truncated: bool = False,
) -> Result[Any]:
    """Check ``text`` against ``spec``; repair it deterministically if needed.

    Args:
        text: The model output: a ``str``, UTF-8 ``bytes``, or a generation object with ``.text`` and
            ``.finish_reason`` (e.g. :class:`formbound.models.base.Generation`).
        spec: A :class:`Spec`, or what ``Spec.json`` takes (a JSON Schema dict, a path to a schema file,
            a pydantic model class).
        repair: Try the format's named repairs when the text is not valid as given.
        max_chars: Reject longer texts without parsing them.
        finish_reason: Why generation stopped. ``"length"`` (cut off by the token limit) is an error of
            kind ``truncated`` unless ``allow_truncated``: a text cut short can parse and still be wrong.
        allow_truncated: Accept a text cut off by the token limit, with its unfinished trailing member
            dropped (repair ``truncated``); where the schema requires that member, it still fails. A
            cut-off string or number is never kept in part, with or without this flag.

    Returns:
        A :class:`Result`.

    Raises:
        EnforcementError: the text (and every repair of it) fails; the error is the one from the
            candidate that got furthest (a schema error in fenced JSON beats "``` is not JSON").

    >>> enforce('Sure! ```json\\n{"n": 3,}\\n```', {"type": "object"}).repairs
    ('strip_fence', 'trailing_comma')
    """
    spec = Spec.coerce(spec)
    if hasattr(text, "text") and hasattr(text, "finish_reason") and not isinstance(text, (str, bytes)):
        finish_reason = finish_reason if finish_reason is not None else text.finish_reason
        text = text.text
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnforcementError(
                "syntax",
                [Issue(f"text is not valid UTF-8 (byte {exc.start})", kind="encoding")],
                repr(text[:200]),
            ) from exc
    if not isinstance(text, str):
        raise TypeError(f"enforce() needs text (str), got {type(text).__name__}")
    if len(text) > max_chars:
        raise EnforcementError(
            "syntax",
            [
                Issue(
                    f"text is {len(text):,} characters, over the limit of {max_chars:,} (max_chars=)",
                    kind="too_large",
                )
            ],
            text[:1000],
            raw=text[:1000],
        )
    if finish_reason == "length" and not allow_truncated:
        raise EnforcementError("syntax", [_truncated_issue("generation stopped at the token limit")], text)
    if not text.strip():
        raise EnforcementError("syntax", [Issue("text is empty", kind="empty")], text)
    try:
        value, notes = spec.validate_with_repairs(spec.parse(text), text)
        return Result(value, spec, notes, text)
    except EnforcementError as first:
        if not repair:
            raise
        best = first
    except RecursionError:
        raise _too_deep(text) from None
    candidates = spec.candidates(text)
    while True:
        try:
            cand = next(candidates)
        except StopIteration:
            break
        except EnforcementError as err:  # the repairs themselves refuse (e.g. several values)
            if _stage_rank(spec, err) > _stage_rank(spec, best):
                best = EnforcementError(err.stage, err.errors, err.text, raw=text, repairs=err.repairs)
            elif err.stage == best.stage:  # say why repair stopped, and keep what the strict reading found
                issues = [*err.errors, *best.errors]
                best = EnforcementError(best.stage, issues, best.text, raw=text, repairs=best.repairs)
            break
        if "truncated" in cand.repairs and not allow_truncated:
            if _stage_rank(spec, best) == 0:
                issue = _truncated_issue("the text ends inside its value")
                best = EnforcementError("syntax", [issue], cand.text, raw=text, repairs=cand.repairs)
            continue
        try:
            parsed = cand.parsed if cand.has_parsed else spec.parse(cand.text)
            value, notes = spec.validate_with_repairs(parsed, cand.text)
        except EnforcementError as err:
            if _stage_rank(spec, err) > _stage_rank(spec, best):
                best = EnforcementError(err.stage, err.errors, err.text, raw=text, repairs=cand.repairs)
            continue
        except RecursionError:
            continue
        return Result(value, spec, cand.repairs + notes, text)
    raise best


def _raw_text(text: Any) -> str:
    """The text of what a guarded function returned (a str, bytes, a generation, or None)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(getattr(text, "text", text))


def _truncated_issue(why: str) -> Issue:
    return Issue(
        f"{why}: the output was cut off, and what it would have said is unknown; raise the token limit, "
        "or pass allow_truncated=True to accept it with the unfinished trailing member dropped",
        kind="truncated",
    )


def _too_deep(text: str) -> EnforcementError:
    return EnforcementError(
        "syntax",
        [Issue("nesting deeper than the parser allows", kind="too_deep")],
        text[:1000],
        raw=text[:1000],
    )


#: Characters of the rejected answer quoted back in a re-ask.
FEEDBACK_ANSWER_CHARS = 2000


def render_feedback(err: EnforcementError, limit: int = 8) -> str:
    """The previous answer and the validator's errors, as a short message a model can act on."""
    lines = []
    answer = (err.raw or err.text or "").strip()
    if answer:
        shown = answer if len(answer) <= FEEDBACK_ANSWER_CHARS else answer[:FEEDBACK_ANSWER_CHARS] + " …"
        lines += ["Your previous answer was:", shown, ""]
    lines.append(f"Your previous answer was rejected ({err.stage} error):")
    lines += [f"- {issue}" for issue in err.errors[:limit]]
    if len(err.errors) > limit:
        lines.append(f"- … {len(err.errors) - limit} more")
    lines.append("Answer again with the corrected output only.")
    return "\n".join(lines)


def _takes_feedback(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(p.name == "feedback" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _with_feedback(prompt: Any, answer: str, feedback: str) -> Any:
    """``prompt`` asking again: text gets the feedback appended, chat messages get two more turns."""
    if isinstance(prompt, str):
        return f"{prompt}\n\n{feedback}"
    if isinstance(prompt, (list, tuple)) and all(isinstance(m, dict) for m in prompt):
        return [*prompt, {"role": "assistant", "content": answer}, {"role": "user", "content": feedback}]
    raise ConfigError(
        "guard re-asks a function without a `feedback` parameter by extending its prompt, which must "
        f"be text or a list of chat messages, got {type(prompt).__name__}; add `feedback=None` to it"
    )


class _Loop:
    """One re-ask loop: what to send next, and the attempts so far."""

    def __init__(self, spec: Spec, retries: int, repair: bool, feedback: Callable[[EnforcementError], str]):
        self.spec, self.retries, self.repair, self.render = spec, retries, repair, feedback
        self.attempts: list[Attempt] = []
        self.last: EnforcementError | None = None

    def judge(self, text: Any, fb: str | None) -> Result[Any] | str:
        """The result, or the feedback for the next attempt."""
        try:
            if text is None:  # e.g. a chat API's empty ``content`` (a refusal or a tool call)
                raise EnforcementError(
                    "syntax", [Issue("the function returned None, not text", kind="empty")], ""
                )
            result = enforce(text, self.spec, repair=self.repair)
        except EnforcementError as err:
            self.attempts.append(Attempt(_raw_text(text), err, fb))
            self.last = err
            return self.render(err)
        self.attempts.append(Attempt(_raw_text(text), None, fb))
        return Result(result.value, self.spec, result.repairs, result.raw, tuple(self.attempts))

    def failure(self) -> EnforcementError:
        if self.last is None:  # pragma: no cover - the loop runs at least once
            raise ConfigError("guard made no attempt")
        return self.last.with_attempts(self.attempts)


def guard(
    spec: Any,
    retries: int = 2,
    *,
    repair: bool = True,
    feedback: Callable[[EnforcementError], str] = render_feedback,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function that asks a model into one that returns a :class:`Result`, with re-asks.

    ``fn(prompt, feedback=None) -> str``: on failure it is called again (at most ``retries`` more times)
    with the previous answer and the validator's errors rendered as ``feedback``. A plain
    ``fn(prompt) -> str`` works too: the re-ask appends the feedback to a text prompt, or adds the answer
    and the feedback as two more turns to a list of chat messages. ``async def`` functions give an
    ``async`` wrapper. The final :class:`EnforcementError` carries every attempt.

    >>> answers = iter(['{"n": "x"}', '{"n": 2}'])
    >>> ask = guard({"properties": {"n": {"type": "integer"}}})(lambda p, feedback=None: next(answers))
    >>> result = ask("how many?")
    >>> result.value, len(result.attempts)
    ({'n': 2}, 2)
    """
    the_spec = Spec.coerce(spec)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        keyword = _takes_feedback(fn)

        def call_args(prompt: Any, fb: str | None, answer: str) -> tuple[Any, dict[str, Any]]:
            if keyword:
                return prompt, {"feedback": fb}
            return (prompt if fb is None else _with_feedback(prompt, answer, fb)), {}

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(prompt: Any, *args: Any, **kwargs: Any) -> Result[Any]:
                loop = _Loop(the_spec, retries, repair, feedback)
                fb: str | None = None
                answer = ""
                for _ in range(retries + 1):
                    sent, extra = call_args(prompt, fb, answer)
                    text = await fn(sent, *args, **extra, **kwargs)
                    out = loop.judge(text, fb)
                    if isinstance(out, Result):
                        return out
                    fb, answer = out, _raw_text(text)
                raise loop.failure()

            return awrapper

        @functools.wraps(fn)
        def wrapper(prompt: Any, *args: Any, **kwargs: Any) -> Result[Any]:
            loop = _Loop(the_spec, retries, repair, feedback)
            fb: str | None = None
            answer = ""
            for _ in range(retries + 1):
                sent, extra = call_args(prompt, fb, answer)
                text = fn(sent, *args, **extra, **kwargs)
                out = loop.judge(text, fb)
                if isinstance(out, Result):
                    return out
                fb, answer = out, _raw_text(text)
            raise loop.failure()

        return wrapper

    return decorator
