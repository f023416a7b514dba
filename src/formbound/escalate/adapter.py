"""LoRA adapter training: answer-only loss, seeded, checkpointed, resumable, ``accelerate launch``-able.

The loop is small on purpose (no Trainer): every step's batch is a pure function of the seed and the
step number, so a run resumed from a checkpoint replays exactly the batches an uninterrupted run would
have seen. Under ``accelerate launch --num_processes N`` each process takes its share of the global
batch, gradients are averaged by accelerate, and only the main process writes checkpoints and the
final folder. The output is a standard PEFT folder (``adapter_config.json``,
``adapter_model.safetensors``) plus ``metadata.json``, renamed into place only when complete.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from formbound._atomic import write_atomic
from formbound._util import versions
from formbound.errors import ConfigError, DependencyError
from formbound.escalate.dataset import file_sha256, load_records

__all__ = [
    "METADATA_FILE",
    "TrainConfig",
    "TrainResult",
    "encode_example",
    "load_base",
    "read_metadata",
    "train_adapter",
]

METADATA_FILE = "metadata.json"
_CKPT_PREFIX = "step-"


@dataclass
class TrainConfig:
    """How to train an adapter. The defaults finish on SmolLM2-135M on two CPU cores in minutes.

    Attributes:
        epochs: Passes over the dataset (fractions allowed).
        max_steps: Stop after this many optimizer steps (overrides ``epochs`` when set).
        batch_size: Examples per optimizer step, over all processes together.
        learning_rate: Peak learning rate (linear warm-up, then linear decay to zero).
        warmup_ratio: Share of the steps spent warming up.
        weight_decay: AdamW weight decay.
        max_length: Longest example in tokens; longer ones are cut, and dropped when no answer token is left.
        seed: Seeds the data order, the LoRA initialisation and dropout.
        r: LoRA rank (:class:`peft.LoraConfig` ``r``).
        lora_alpha: LoRA scaling numerator.
        lora_dropout: Dropout on the LoRA input.
        target_modules: Modules to adapt, as :class:`peft.LoraConfig` takes them (``"all-linear"``,
            a list of names, or ``None`` for peft's default for the architecture).
        save_every: Write a checkpoint every this many steps (0: never).
        keep_checkpoints: How many recent checkpoints to keep while training.
        mixed_precision: ``"auto"`` (bf16 on a CUDA GPU that supports it, otherwise none), ``"no"``,
            ``"bf16"`` or ``"fp16"``.
    """

    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 8
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 512
    seed: int = 0
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[str] | None = "all-linear"
    save_every: int = 10
    keep_checkpoints: int = 2
    mixed_precision: str = "auto"

    def __post_init__(self) -> None:
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
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ConfigError(
                f"mixed_precision {self.mixed_precision!r} is not one of 'auto', 'no', 'bf16', 'fp16'"
            )
        if self.save_every < 0:
            raise ConfigError(f"save_every must be >= 0, got {self.save_every}")

    def lora_config(self, model: Any = None) -> Any:
        """The :class:`peft.LoraConfig` for this run for ``model``."""
        peft = _require("peft")
        conv1d = model is not None and any(type(m).__name__ == "Conv1D" for m in model.modules())
        return peft.LoraConfig(
            fan_in_fan_out=conv1d,
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
            bias="none",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """What a checkpoint must agree with to be resumed (everything that changes the result)."""
        keys = {k: v for k, v in asdict(self).items() if k not in ("save_every", "keep_checkpoints")}
        return json.dumps(keys, sort_keys=True)


@dataclass
class TrainResult:
    """What a training run produced."""

    path: str
    metadata: dict[str, Any]
    resumed_from: int | None = None
    losses: list[float] = field(default_factory=list)


def _require(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise DependencyError(
            f"training adapters needs {name!r}; install it with: pip install 'formbound[train]'"
        ) from exc


def load_base(name: str) -> tuple[Any, Any]:
    """(transformers model, tokenizer) of a local transformers folder or a formbound model name."""
    path = Path(name)
    if path.is_dir() and (path / "config.json").is_file():
        transformers = _require("transformers")
        tok = transformers.AutoTokenizer.from_pretrained(str(path))
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
        return model, tok
    from formbound.models import load

    loaded: Any = load(name)
    if not hasattr(loaded, "model") or not hasattr(loaded, "tokenizer"):
        raise ConfigError(f"model {name!r} is not a local transformers model; adapters need one to train on")
    return loaded.model, loaded.tokenizer


# ------------------------------------------------------------------------------------ encoding
def _end_of_turn(tokenizer: Any, messages: Sequence[dict[str, str]], prompt: str) -> str:
    """The text the chat template puts right after an assistant answer, up to the end-of-turn token."""
    probe = "\x01"
    full = tokenizer.apply_chat_template(
        [*messages[:-1], {"role": "assistant", "content": probe}], tokenize=False
    )
    if full.startswith(prompt) and probe in full[len(prompt) :]:
        tail = full[len(prompt) :].split(probe, 1)[1]
        return tail.rstrip()
    return str(tokenizer.eos_token or "")


def encode_example(
    tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int
) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one chat example; every prompt token's label is -100 (no loss on it).

    The prompt is the chat template applied to all but the last message with a generation prompt;
    the answer is the last message's content followed by the template's end-of-turn token.
    """
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), tokenize=False, add_generation_prompt=True)
    answer = messages[-1]["content"] + _end_of_turn(tokenizer, messages, prompt)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"])
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return ids, labels


def _collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def _step_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """The example indices of global step ``step``: a seeded permutation per epoch, cut into batches."""
    per_epoch = math.ceil(n / batch_size)
    epoch, pos = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[pos * batch_size : (pos + 1) * batch_size]


# --------------------------------------------------------------------------------- checkpoints
def _checkpoints(work: Path) -> list[Path]:
    done = [p for p in work.glob(f"{_CKPT_PREFIX}*") if (p / "state.json").is_file()]
    return sorted(done, key=lambda p: int(p.name[len(_CKPT_PREFIX) :]))


def _save_checkpoint(
    work: Path, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int
) -> None:
    import torch
    from peft import get_peft_model_state_dict

    tmp = work / f".tmp-{_CKPT_PREFIX}{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({k: v.detach().cpu() for k, v in get_peft_model_state_dict(model).items()}, tmp / "adapter.pt")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")  # written last: marks completeness
    final = work / f"{_CKPT_PREFIX}{step:06d}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in _checkpoints(work)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, torch.load(path / "adapter.pt", weights_only=True))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng = torch.load(path / "rng.pt", weights_only=False)
    random.setstate(rng["python"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    state: dict[str, Any] = json.loads((path / "state.json").read_text(encoding="utf-8"))
    return state


def read_metadata(adapter_path: str | Path) -> dict[str, Any]:
    """The ``metadata.json`` of an adapter folder."""
    p = Path(adapter_path) / METADATA_FILE
    if not p.is_file():
        raise ConfigError(
            f"{str(adapter_path)!r} has no {METADATA_FILE}; is it an adapter trained by formbound?"
        )
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


# ------------------------------------------------------------------------------------ training
def train_adapter(
    model: Any,
    tokenizer: Any,
    dataset: str | Path,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    base_model: str = "",
    spec_hash: str | None = None,
    resume: bool = True,
    keep_work: bool = False,
    callback: Callable[[int, float], None] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on a chat JSONL dataset and write it to ``out_dir``.

    Args:
        model: A transformers causal LM. LoRA layers are injected for the run and removed afterwards,
            so the caller's model is unchanged when this returns.
        tokenizer: Its tokenizer (with a chat template).
        dataset: A JSONL file from :func:`formbound.escalate.build_dataset`.
        out_dir: The adapter folder to create (replaced atomically if it exists).
        config: A :class:`TrainConfig` (defaults when omitted).
        base_model: The base model's name, recorded in the metadata.
        spec_hash: The spec's hash, recorded in the metadata (read from the dataset card when omitted).
        resume: Continue from the newest checkpoint in ``<out_dir>.partial/`` when there is one.
        keep_work: Keep ``<out_dir>.partial/`` (checkpoints) after success.
        callback: Called as ``callback(step, loss)`` after each optimizer step, on every process.
        extra_metadata: More keys for metadata.json, e.g. ``{"prompt": {"style": "raw", "shots": 0}}``
            (the prompt the evaluation harness must use with this adapter).

    Returns:
        A :class:`TrainResult` with the folder and its metadata.

    Raises:
        ConfigError: the dataset is empty, or the checkpoints found were made with another config or dataset.
    """
    import torch

    accelerate = _require("accelerate")
    peft = _require("peft")
    from formbound._version import __version__

    config = config or TrainConfig()
    out = Path(out_dir)
    work = out.with_name(out.name + ".partial")
    records = load_records(dataset)
    dataset_hash = file_sha256(dataset)
    if spec_hash is None:
        card = Path(dataset).with_name(Path(dataset).stem + ".card.json")
        if card.is_file():
            spec_hash = json.loads(card.read_text(encoding="utf-8")).get("spec_hash")
    examples = [encode_example(tokenizer, r["messages"], config.max_length) for r in records]
    examples = [ex for ex in examples if any(lab != -100 for lab in ex[1])]
    if not examples:
        raise ConfigError(f"dataset {str(dataset)!r} has no example with an answer token within max_length")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    accelerator = accelerate.Accelerator(
        mixed_precision=_mixed_precision(config.mixed_precision),
        # Without CUDA, a process group launched by accelerate/torchrun runs on CPU with gloo.
        cpu=not torch.cuda.is_available(),
    )
    accelerate.utils.set_seed(config.seed)
    per_epoch = math.ceil(len(examples) / config.batch_size)
    total = config.max_steps or max(1, math.ceil(config.epochs * per_epoch))
    warmup = int(config.warmup_ratio * total)

    was_training = model.training
    use_cache = getattr(model.config, "use_cache", None)
    model.config.use_cache = False
    peft_model = peft.get_peft_model(model, config.lora_config(model))
    try:
        trainable = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        wrapped, optimizer = accelerator.prepare(peft_model, optimizer)
        fingerprint = {
            "config": config.fingerprint(),
            "dataset": dataset_hash,
            "world": accelerator.num_processes,
        }

        start, losses, resumed_from = 0, [], None
        found = _checkpoints(work) if resume and work.is_dir() else []
        if found:
            state = _load_checkpoint(found[-1], accelerator.unwrap_model(wrapped), optimizer, scheduler)
            if state.get("fingerprint") != fingerprint:
                raise ConfigError(
                    f"checkpoint {str(found[-1])!r} was made with another config, dataset or process count; "
                    f"delete {str(work)!r} or pass resume=False"
                )
            start, losses, resumed_from = state["step"], list(state["losses"]), state["step"]
        elif accelerator.is_main_process and work.exists():
            shutil.rmtree(work)
        accelerator.wait_for_everyone()

        wrapped.train()
        t0 = time.perf_counter()
        tokens = 0
        rank, world = accelerator.process_index, accelerator.num_processes
        for step in range(start, total):
            idx = _step_indices(step, len(examples), config.batch_size, config.seed)
            mine = idx[rank::world] or idx[:1]
            batch = {
                k: v.to(accelerator.device) for k, v in _collate([examples[i] for i in mine], pad_id).items()
            }
            with accelerator.autocast():
                loss = wrapped(**batch).loss
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss = float(accelerator.reduce(loss.detach().float(), reduction="mean"))
            losses.append(round(step_loss, 6))
            tokens += int((batch["labels"] != -100).sum())
            done = step + 1
            if config.save_every and done % config.save_every == 0 and done < total:
                if accelerator.is_main_process:
                    state = {"step": done, "losses": losses, "fingerprint": fingerprint}
                    _save_checkpoint(
                        work,
                        done,
                        accelerator.unwrap_model(wrapped),
                        optimizer,
                        scheduler,
                        state,
                        config.keep_checkpoints,
                    )
                accelerator.wait_for_everyone()
            if callback is not None:
                callback(done, step_loss)
        seconds = time.perf_counter() - t0

        unwrapped = accelerator.unwrap_model(wrapped)
        n_trainable = sum(p.numel() for p in trainable)
        metrics = {
            "steps": total,
            "examples": len(examples),
            "first_loss": losses[0] if losses else None,
            "final_loss": round(sum(losses[-5:]) / len(losses[-5:]), 6) if losses else None,
            "losses": losses,
            "train_seconds": round(seconds, 2),
            "answer_tokens_this_run": tokens,
            "resumed_from_step": resumed_from,
            "processes": world,
            "trainable_parameters": n_trainable,
        }
        metadata = {
            "base_model": base_model or str(getattr(model, "name_or_path", "")),
            "spec_hash": spec_hash,
            "dataset_sha256": dataset_hash,
            "dataset_records": len(records),
            "training_config": config.to_dict(),
            "mixed_precision": accelerator.mixed_precision,
            "metrics": metrics,
            "formbound_version": __version__,
            "versions": versions(),
            **(extra_metadata or {}),
        }
        if accelerator.is_main_process:
            _publish(unwrapped, work, out, metadata, keep_work)
        accelerator.wait_for_everyone()
        return TrainResult(str(out), metadata, resumed_from, losses)
    finally:
        peft_model.unload()
        model.config.use_cache = use_cache
        model.train(was_training)


def _publish(model: Any, work: Path, out: Path, metadata: dict[str, Any], keep_work: bool) -> None:
    """Write the adapter into the work folder, then rename it to ``out`` in one step."""
    final = work / "final"
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    model.save_pretrained(str(final))
    write_atomic(final / METADATA_FILE, json.dumps(metadata, indent=2, default=str) + "\n")
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(final, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
