"""LoRA adapter training on :class:`transformers.Trainer`: answer-only loss, seeded, checkpointed, resumable.

The Trainer does the loop, the checkpoints (``checkpoint-N/`` in ``<out>.partial/``, with optimizer,
scheduler and RNG states), resuming (``resume_from_checkpoint``, which replays the data order an
uninterrupted run would have seen), and the distribution under ``accelerate launch`` (DDP, FSDP).
formbound adds the chat encoding with the loss on the answer only, the refusal to resume checkpoints of
another config or dataset, and the adapter folder: a standard PEFT folder plus ``metadata.json``,
gathered from every process (FSDP shards the weights) and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formbound._util import versions
from formbound.errors import ConfigError
from formbound.escalate.answer_loss import answer_only_loss
from formbound.escalate.cost import peak_memory_mb
from formbound.escalate.dataset import file_sha256, load_records
from formbound.escalate.publish import publish, read_run_file, work_dir, write_run_file
from formbound.escalate.train_config import TrainConfig, _require

__all__ = ["TrainResult", "collate", "encode_example", "load_base", "train_adapter"]


@dataclass
class TrainResult:
    """What a training run produced."""

    path: str
    metadata: dict[str, Any]
    resumed_from: int | None = None
    losses: list[float] = field(default_factory=list)


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


def collate(batch: Sequence[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad encoded examples (``{"input_ids", "labels"}``) into tensors; padding has label -100."""
    import torch

    width = max(len(ex["input_ids"]) for ex in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ex in enumerate(batch):
        n = len(ex["input_ids"])
        input_ids[i, :n] = torch.tensor(ex["input_ids"])
        labels[i, :n] = torch.tensor(ex["labels"])
        mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


# ------------------------------------------------------------------------------------ helpers
@contextlib.contextmanager
def _caller_rng_kept() -> Iterator[None]:
    """Run with the seeds training needs, then give the caller back its own random states."""
    import torch

    py, cpu = random.getstate(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        np: Any = __import__("numpy")
        np_state = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy comes with transformers
        np = np_state = None
    try:
        yield
    finally:
        random.setstate(py)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        if np is not None:
            np.random.set_state(np_state)


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _spec_hash_of(dataset: str | Path) -> str | None:
    card = Path(dataset).with_name(Path(dataset).stem + ".card.json")
    if card.is_file():
        value = json.loads(card.read_text(encoding="utf-8")).get("spec_hash")
        return None if value is None else str(value)
    return None


def _arguments(config: TrainConfig, work: Path, total: int) -> Any:
    transformers = _require("transformers")
    import torch

    precision = _mixed_precision(config.mixed_precision)
    return transformers.TrainingArguments(
        output_dir=str(work),
        max_steps=total,
        # split_batches: each global batch of batch_size examples is cut across the processes, so N
        # processes see the very batches one process would (in the same order).
        per_device_train_batch_size=config.batch_size,
        accelerator_config={"split_batches": True},
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=int(config.warmup_ratio * total),
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        # batches of examples of similar length (seeded): less padding, same examples per pass
        train_sampling_strategy="group_by_length",
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps" if config.save_every else "no",
        save_steps=config.save_every or 1,
        save_total_limit=config.keep_checkpoints if config.keep_checkpoints > 0 else None,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )


def _trainer_class(base: Any) -> Any:
    class AnswerLossTrainer(base):
        """``transformers.Trainer`` whose loss applies the vocabulary head to answer positions only
        (:func:`~formbound.escalate.answer_loss.answer_only_loss`; the model's own loss otherwise)."""

        def compute_loss(
            self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            if not return_outputs:
                loss = answer_only_loss(model, inputs)
                if loss is not None:
                    return loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return AnswerLossTrainer


def _step_callback(callback: Callable[[int, float], None] | None) -> Any:
    base: Any = _require("transformers").TrainerCallback

    class StepCallback(base):
        """Hands each step's loss (averaged over the processes) to ``callback``."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if callback is not None and logs and "loss" in logs:
                callback(state.global_step, float(logs["loss"]))

    return StepCallback()


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

    Runs as is under ``accelerate launch`` (DDP or FSDP): every process calls it; the main process
    writes the folder, from weights gathered from all of them.

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
        A :class:`TrainResult` with the folder and its metadata. The caller's random states (python,
        numpy, torch) are as they were before the call.

    Raises:
        ConfigError: the dataset is empty, ``batch_size`` does not split over the processes, or the
            checkpoints found were made with another config, dataset or process count.
    """
    transformers = _require("transformers")
    peft = _require("peft")
    accelerate = _require("accelerate")
    from formbound._version import __version__

    config = config or TrainConfig()
    out = Path(out_dir)
    work = work_dir(out)
    records = load_records(dataset)
    dataset_hash = file_sha256(dataset)
    spec_hash = spec_hash if spec_hash is not None else _spec_hash_of(dataset)
    encoded = [encode_example(tokenizer, r["messages"], config.max_length) for r in records]
    examples = [{"input_ids": i, "labels": lab} for i, lab in encoded if any(x != -100 for x in lab)]
    if not examples:
        raise ConfigError(f"dataset {str(dataset)!r} has no example with an answer token within max_length")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total = config.max_steps or max(
        1, math.ceil(config.epochs * math.ceil(len(examples) / config.batch_size))
    )

    with _caller_rng_kept():
        args = _arguments(config, work, total)
        group = accelerate.PartialState()  # the process group the arguments joined
        world = group.num_processes
        if config.batch_size % world:
            raise ConfigError(
                f"batch_size {config.batch_size} does not split over {world} processes; "
                f"use a multiple of {world}"
            )
        fingerprint = {"config": config.fingerprint(), "dataset": dataset_hash, "world": world}
        last = transformers.trainer_utils.get_last_checkpoint(str(work)) if resume and work.is_dir() else None
        if last is not None and read_run_file(work) != fingerprint:
            raise ConfigError(
                f"checkpoint {last!r} was made with another config, dataset or process count; "
                f"delete {str(work)!r} or pass resume=False"
            )
        group.wait_for_everyone()
        if last is None and group.is_main_process:
            shutil.rmtree(work, ignore_errors=True)
            write_run_file(work, fingerprint)
        group.wait_for_everyone()

        transformers.set_seed(config.seed)  # the LoRA initialisation
        was_training = model.training
        use_cache = getattr(model.config, "use_cache", None)
        model.config.use_cache = False
        peft_model = peft.get_peft_model(model, config.lora_config(model))
        try:
            trainer = _trainer_class(transformers.Trainer)(
                model=peft_model,
                args=args,
                train_dataset=examples,
                data_collator=lambda batch: collate(batch, pad_id),
                callbacks=[_step_callback(callback)],
            )
            t0 = time.perf_counter()
            trainer.train(resume_from_checkpoint=last)
            seconds = time.perf_counter() - t0
            peak, peak_source = peak_memory_mb()
            losses = [round(float(h["loss"]), 6) for h in trainer.state.log_history if "loss" in h]
            # FSDP shards the weights: gather the full state dict (a collective, on every process).
            full = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_fsdp_enabled else None
            resumed_from = int(Path(last).name.rsplit("-", 1)[1]) if last else None
            metrics = {
                "steps": total,
                "examples": len(examples),
                "first_loss": losses[0] if losses else None,
                "final_loss": round(sum(losses[-5:]) / len(losses[-5:]), 6) if losses else None,
                "losses": losses,
                "train_seconds": round(seconds, 2),
                "seconds_per_step": round(seconds / max(1, total - (resumed_from or 0)), 4),
                "peak_memory_mb": None if peak is None else round(peak, 1),
                "peak_memory_source": peak_source,
                "resumed_from_step": resumed_from,
                "processes": world,
                "sharded": bool(trainer.is_fsdp_enabled),
                "trainable_parameters": sum(p.numel() for p in peft_model.parameters() if p.requires_grad),
            }
            metadata = {
                "base_model": base_model or str(getattr(model, "name_or_path", "")),
                "spec_hash": spec_hash,
                "dataset_sha256": dataset_hash,
                "dataset_records": len(records),
                "training_config": config.to_dict(),
                "mixed_precision": _mixed_precision(config.mixed_precision),
                "metrics": metrics,
                "formbound_version": __version__,
                "versions": versions(),
                **(extra_metadata or {}),
            }
            if group.is_main_process:
                unwrapped = trainer.accelerator.unwrap_model(trainer.model)
                publish(unwrapped, work, out, metadata, state_dict=full, keep_work=keep_work)
            group.wait_for_everyone()
            return TrainResult(str(out), metadata, resumed_from, losses)
        finally:
            peft_model.unload()
            model.config.use_cache = use_cache
            model.train(was_training)
