"""Events of generation and evaluation runs, for progress bars, timing and logging without touching the logic.

Subscribe a callable to an event name; the runner emits the event with keyword arguments:

==================  ===================================================================================
event               keyword arguments
==================  ===================================================================================
``run_start``       ``total`` (records wanted), ``cached`` (records already in the cache)
``strategy_start``  ``strategy``, ``pending`` (items left to generate)
``generate``        ``strategy``, ``size`` (prompts in the batch), ``attempt`` (0 first, then re-asks),
                    ``seconds`` (wall time of the ``model.generate`` call)
``record``          ``record``, ``cached`` (True when it came from the cache)
``strategy_end``    ``strategy``, ``records``
``run_end``         ``seconds`` (wall time of the run)
==================  ===================================================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from formbound.errors import ConfigError

__all__ = ["EVENTS", "Hooks"]

EVENTS: tuple[str, ...] = ("run_start", "strategy_start", "generate", "record", "strategy_end", "run_end")


class Hooks:
    """A registry of event handlers.

    >>> hooks = Hooks()
    >>> seen = []
    >>> hooks.on("run_end", lambda seconds: seen.append(seconds))
    >>> hooks.emit("run_end", seconds=1.5)
    >>> seen
    [1.5]
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = defaultdict(list)

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Call ``handler(**kwargs)`` whenever ``event`` is emitted."""
        if event not in EVENTS:
            from formbound._util import suggest

            hint = suggest(event, list(EVENTS))
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise ConfigError(f"unknown event {event!r} (known: {', '.join(EVENTS)}){extra}")
        self._handlers[event].append(handler)

    def emit(self, event: str, **kwargs: Any) -> None:
        for handler in self._handlers.get(event, ()):
            handler(**kwargs)
