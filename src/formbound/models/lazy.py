"""A model that loads on first use: a cached rerun that generates nothing never pays for the weights.

:func:`formbound.models.load` returns one with ``lazy=True``. Until it is needed, ``info()`` reports the
model's identity (name, source, adapter), predicted from the name exactly as the loaded model will
report it, so cache keys computed before and after loading agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from formbound.errors import ConfigError
from formbound.models.base import Generation, Model, Prompt

if TYPE_CHECKING:
    from formbound.constraints import Constraint

__all__ = ["LazyModel"]

log = logging.getLogger(__name__)


class LazyModel(Model):
    """Stands in for a model until it is needed, then forwards everything to it.

    Args:
        loader: Loads the real model (called at most once).
        identity: ``{"name", "source", "adapter"}`` exactly as the loaded model's ``info()`` gives them.
    """

    def __init__(self, loader: Callable[[], Model], identity: dict[str, Any]) -> None:
        self._loader = loader
        self._identity = dict(identity)
        self._model: Model | None = None
        self.name = str(identity.get("name", "model"))

    @property
    def loaded(self) -> bool:
        """Whether the real model has been loaded."""
        return self._model is not None

    def load(self) -> Model:
        """The real model, loading it on the first call."""
        if self._model is None:
            log.info("loading model %s", self.name)
            self._model = self._loader()
        return self._model

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        constraint: Constraint | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        return self.load().generate(
            prompts, constraint=constraint, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )

    def set_adapter(self, path: Any) -> None:
        """Switch LoRA adapters; switching off an adapter of a model never loaded is a no-op."""
        if path is None and self._model is None:
            return
        model = self.load()
        switch = getattr(model, "set_adapter", None)
        if not callable(switch):
            raise ConfigError(f"model {self.name!r} cannot switch LoRA adapters (no set_adapter)")
        switch(path)

    def info(self) -> dict[str, Any]:
        if self._model is not None:
            return self._model.info()
        return {**self._identity, "loaded": False}

    def __getattr__(self, attr: str) -> Any:
        # Only reached for attributes LazyModel lacks (the tokenizer, the HF model…): load and forward.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        if self._model is not None:
            return repr(self._model)
        facts = ", ".join(f"{k}={v!r}" for k, v in self._identity.items() if k != "name" and v is not None)
        return f"<LazyModel {self.name!r} ({facts}; not loaded yet)>"
