"""How to train an adapter: the training knobs, and the :class:`peft.LoraConfig` of the adapter itself."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from formbound.errors import ConfigError, DependencyError

__all__ = [
    "CPU_BATCH_SIZE",
    "CPU_LORA_DROPOUT",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_STEPS_CAP",
    "TrainConfig",
    "cuda_available",
    "default_train_config",
]

#: The LoRA settings :class:`TrainConfig` accepts as plain keywords (when no ``lora`` is given).
LORA_DEFAULTS: dict[str, Any] = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": "all-linear",
}
_MIXED = ("auto", "no", "bf16", "fp16")


def _require(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DependencyError(
            f"training adapters needs {name!r}; install it with: pip install 'formbound[train]'"
        ) from exc


def _lora_from(value: Any, options: dict[str, Any]) -> Any:
    """A :class:`peft.LoraConfig` from one, from its ``to_dict()`` (stored metadata), or from ``options``."""
    try:
        import peft
    except ImportError:
        return None  # built when training needs it; then the missing peft is reported
    if value is None:
        return peft.LoraConfig(task_type="CAUSAL_LM", bias="none", **options)
    if isinstance(value, dict):
        known = set(peft.LoraConfig.__dataclass_fields__)
        kept = {k: v for k, v in value.items() if k in known and k not in ("peft_type", "revision")}
        if isinstance(kept.get("target_modules"), list | set | tuple):
            kept["target_modules"] = sorted(kept["target_modules"])
        return peft.LoraConfig(**kept)
    if isinstance(value, peft.LoraConfig):
        return value
    raise ConfigError(f"lora must be a peft.LoraConfig (or its to_dict()), got {type(value).__name__}")


@dataclass(init=False)
class TrainConfig:
    """How to train an adapter. The defaults finish on SmolLM2-135M on two CPU cores in minutes.

    The adapter itself is a :class:`peft.LoraConfig` (``lora``); ``r``, ``lora_alpha``, ``lora_dropout``
    and ``target_modules`` are shortcuts that read and write it (and build it when ``lora`` is omitted).

    Attributes:
        epochs: Passes over the dataset (fractions allowed).
        max_steps: Stop after this many optimizer steps (overrides ``epochs`` when set).
        batch_size: Examples per optimizer step, over all processes together (a multiple of the
            number of processes).
        learning_rate: Peak learning rate (linear warm-up, then linear decay to zero).
        warmup_ratio: Share of the steps spent warming up.
        weight_decay: AdamW weight decay.
        max_length: Longest example in tokens; longer ones are cut, and dropped when no answer token is left.
        seed: Seeds the data order, the LoRA initialisation and dropout.
        save_every: Write a checkpoint every this many steps (0: never).
        keep_checkpoints: How many recent checkpoints to keep while training.
        mixed_precision: ``"auto"`` (bf16 on a CUDA GPU that supports it, otherwise none), ``"no"``,
            ``"bf16"`` or ``"fp16"``.
        lora: The adapter's :class:`peft.LoraConfig` (``task_type="CAUSAL_LM"``).
    """

    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 512
    seed: int = 0
    save_every: int = 10
    keep_checkpoints: int = 2
    mixed_precision: str = "auto"
    lora: Any = None

    def __init__(
        self,
        *,
        epochs: float = 3.0,
        max_steps: int | None = None,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.0,
        max_length: int = 512,
        seed: int = 0,
        save_every: int = 10,
        keep_checkpoints: int = 2,
        mixed_precision: str = "auto",
        lora: Any = None,
        **lora_options: Any,
    ) -> None:
        unknown = sorted(set(lora_options) - set(LORA_DEFAULTS))
        if unknown:
            raise ConfigError(
                f"TrainConfig got unknown option(s) {unknown}; other LoRA settings go in "
                "lora=peft.LoraConfig(...)"
            )
        if lora is not None and lora_options:
            raise ConfigError(f"give {sorted(lora_options)} inside lora=LoraConfig(...), not beside it")
        self.epochs, self.max_steps, self.batch_size = epochs, max_steps, batch_size
        self.learning_rate, self.warmup_ratio, self.weight_decay = learning_rate, warmup_ratio, weight_decay
        self.max_length, self.seed, self.save_every = max_length, seed, save_every
        self.keep_checkpoints, self.mixed_precision = keep_checkpoints, mixed_precision
        self._options = {**LORA_DEFAULTS, **lora_options}
        self.lora = _lora_from(lora, self._options)
        self._check()

    def _check(self) -> None:
        if self.epochs <= 0 and not self.max_steps:
            raise ConfigError(f"epochs must be > 0 (got {self.epochs}) unless max_steps is set")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"max_steps must be a positive number of steps, got {self.max_steps}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.r < 1:
            raise ConfigError(f"LoRA rank r must be >= 1, got {self.r}")
        if self.mixed_precision not in _MIXED:
            raise ConfigError(f"mixed_precision {self.mixed_precision!r} is not one of {', '.join(_MIXED)}")
        if self.save_every < 0:
            raise ConfigError(f"save_every must be >= 0, got {self.save_every}")

    # ------------------------------------------------------------ shortcuts into the LoraConfig
    def _get(self, key: str) -> Any:
        return getattr(self.lora, key) if self.lora is not None else self._options[key]

    def _set(self, key: str, value: Any) -> None:
        self._options[key] = value
        if self.lora is not None:
            setattr(self.lora, key, value)

    @property
    def r(self) -> int:
        """LoRA rank (``lora.r``)."""
        return int(self._get("r"))

    @r.setter
    def r(self, value: int) -> None:
        self._set("r", value)

    @property
    def lora_alpha(self) -> int:
        """LoRA scaling numerator (``lora.lora_alpha``)."""
        return int(self._get("lora_alpha"))

    @lora_alpha.setter
    def lora_alpha(self, value: int) -> None:
        self._set("lora_alpha", value)

    @property
    def lora_dropout(self) -> float:
        """Dropout on the LoRA input (``lora.lora_dropout``)."""
        return float(self._get("lora_dropout"))

    @lora_dropout.setter
    def lora_dropout(self, value: float) -> None:
        self._set("lora_dropout", value)

    @property
    def target_modules(self) -> Any:
        """Modules to adapt (``lora.target_modules``): ``"all-linear"``, names, or ``None``."""
        value = self._get("target_modules")
        return sorted(value) if isinstance(value, set) else value

    @target_modules.setter
    def target_modules(self, value: Any) -> None:
        self._set("target_modules", value)

    # ------------------------------------------------------------------------------ for peft
    def lora_config(self, model: Any = None) -> Any:
        """A copy of ``lora`` fitted to ``model`` (GPT-2 style ``Conv1D`` layers need ``fan_in_fan_out``)."""
        lora = self.lora if self.lora is not None else _lora_from(None, self._options)
        if lora is None:
            _require("peft")
        lora = copy.deepcopy(lora)
        if model is not None and any(type(m).__name__ == "Conv1D" for m in model.modules()):
            lora.fan_in_fan_out = True
        return lora

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the training knobs, the LoRA shortcuts, and the full ``lora`` config."""
        knobs = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "lora"}
        shortcuts = {k: self._get(k) for k in LORA_DEFAULTS}
        shortcuts["target_modules"] = self.target_modules
        lora = json.loads(json.dumps(self.lora.to_dict(), default=_jsonable)) if self.lora else None
        return {**knobs, **shortcuts, "lora": lora}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config :meth:`to_dict` wrote (unknown keys are ignored; a stored ``lora`` wins over the
        shortcuts, which older metadata holds alone)."""
        knobs = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "lora"}
        if data.get("lora"):
            return cls(**knobs, lora=data["lora"])
        return cls(**knobs, **{k: data[k] for k in LORA_DEFAULTS if k in data})

    def fingerprint(self) -> str:
        """What a checkpoint must agree with to be resumed (everything that changes the result)."""
        keys = {k: v for k, v in self.to_dict().items() if k not in ("save_every", "keep_checkpoints")}
        return json.dumps(keys, sort_keys=True, default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


#: Fewest optimizer steps of the ladder's adapter when no ``train_config`` is given. The contacts dataset
#: (77 records, batch 8) reached loss 0.005 in 30 steps (3 epochs); about two epochs keep the answers
#: and halve the main job's training time on CPU.
DEFAULT_MAX_STEPS = 16
#: Most steps the ladder takes by default on a GPU: a larger (generated) dataset gets one pass over its
#: records up to this many steps (64 steps of 8 = 512 records), so synthetic data is seen, not just sampled.
DEFAULT_STEPS_CAP = 64


#: Examples per step of the ladder's default training on CPU (16 steps of 4: the main job's training in
#: about 3 minutes on 2 cores; its adapter beat the constrained rung there, docs/escalate/contacts).
CPU_BATCH_SIZE = 4
#: LoRA dropout of the ladder's default training on CPU. Dropout on the input of 210 adapted layers drew
#: about 111 M random numbers per step of 4 examples: 9.42 -> 8.09 s per step without it (SmolLM2-135M,
#: 2 cores, three interleaved rounds, bench/bench_lora_dropout.py; BENCHMARKS.md 5d). 16 steps of 4 see
#: 64 of the main job's 377 records once, so there is no repeated data for dropout to regularise against;
#: on a GPU, which makes passes over the data, it stays at TrainConfig's default (0.05).
CPU_LORA_DROPOUT = 0.0


def default_train_config(
    seed: int = 0, records: int | None = None, *, gpu: bool | None = None
) -> TrainConfig:
    """The ladder's training settings: :class:`TrainConfig` defaults and a step count from the data.

    On a GPU: ``DEFAULT_MAX_STEPS`` steps of 8, or one pass over ``records`` examples when that takes
    more, at most ``DEFAULT_STEPS_CAP`` steps. On CPU (where a step of 8 SmolLM2-135M examples takes
    about 20 s on 2 cores): ``DEFAULT_MAX_STEPS`` steps of ``CPU_BATCH_SIZE`` without LoRA dropout
    (``CPU_LORA_DROPOUT``), whatever the dataset's size; pass a :class:`TrainConfig` (``--max-steps``,
    ``--batch-size``) to train longer.

    Args:
        seed: Seeds the data order and the LoRA initialisation.
        records: Records in the training set.
        gpu: Train on a CUDA GPU (default: whether torch sees one).

    >>> [default_train_config(records=n, gpu=True).max_steps for n in (77, 400)]
    [16, 50]
    >>> default_train_config(records=5000, gpu=True).max_steps
    64
    >>> c = default_train_config(records=400, gpu=False)
    >>> c.max_steps, c.batch_size, c.lora_dropout
    (16, 4, 0.0)
    """
    if gpu is None:
        gpu = cuda_available()
    if not gpu:
        return TrainConfig(
            seed=seed, max_steps=DEFAULT_MAX_STEPS, batch_size=CPU_BATCH_SIZE, lora_dropout=CPU_LORA_DROPOUT
        )
    config = TrainConfig(seed=seed, max_steps=DEFAULT_MAX_STEPS)
    if records:
        one_pass = -(-records // config.batch_size)
        config.max_steps = min(DEFAULT_STEPS_CAP, max(DEFAULT_MAX_STEPS, one_pass))
    return config


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
