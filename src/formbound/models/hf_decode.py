"""The decode loop for Hugging Face causal LMs: a batch that drops its finished rows.

``model.generate`` runs a batch until its longest row stops: a row that ended early is padded and still
computed at every step (BENCHMARKS.md §6: one row running to the token limit held a whole batch).
:func:`decode` runs its own loop over a KV cache instead and, as soon as a row ends (an end-of-sequence
token; a complete grammar allows nothing else), removes it from the next step's input, attention mask and
every layer of the KV cache (``Cache.batch_select_indices``). Each step then costs what the rows still
running cost.

Per-row logits processors (:class:`formbound.models.masking.GrammarLogitsProcessor`: one grammar matcher
and budget guard per row) keep seeing the whole batch in its original row order: the scores of rows that
left are filled in, and their column of ids carries the end-of-sequence token they ended with, then
padding, exactly as ``model.generate`` feeds them. So the state of row ``i`` stays with row ``i``, and the
processor skips ended rows as it always did.

Prompts are left-padded after ``held`` tokens the cache already holds for every row (a shared prefix:
the system prompt, instructions and few-shot examples of a measurement run): the cache is copied to
every row and each row's rest is prefilled after it, positions continuing from the prefix and the
padding masked out. Greedy output equals that of each prompt alone, up to floating-point ties.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["Decoded", "decode"]

#: ``processor(ids, scores) -> scores``: the transformers logits-processor protocol.
Processor = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@dataclass
class Decoded:
    """What :func:`decode` generated.

    Attributes:
        rows: Per prompt, the generated ids up to and including the end-of-sequence id that ended it.
        widths: Rows computed by each forward pass (the prefill first): the cost of the batch.
    """

    rows: list[list[int]]
    widths: list[int] = field(default_factory=list)


def _keeps_last_logits(model: Any) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (the prefill then computes one position's)."""
    base = model.get_base_model() if callable(getattr(model, "get_base_model", None)) else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    cache: Any,
    cache_name: str,
    held: int = 0,
    shared: int = 0,
    eos_ids: Sequence[int],
    pad_id: int,
    max_new_tokens: int,
    temperature: float = 0.0,
    processor: Processor | None = None,
) -> Decoded:
    """Generate after each prompt, dropping rows from the batch as they end.

    Args:
        model: A Hugging Face causal LM (or a ``peft.PeftModel`` around one), in inference mode.
        prompts: Token ids per row.
        cache: A KV cache (e.g. ``DynamicCache``) holding the first ``held`` tokens, which every prompt
            starts with, for one row (or empty with ``held == 0``). It is extended in place for a single
            prompt; for several it is left as it is and a copy is expanded to the batch.
        cache_name: The keyword the model's forward takes the cache under (``cache`` or
            ``past_key_values``).
        held: Tokens in ``cache``; each prompt must be longer.
        shared: With several prompts, how many first tokens they all share (each must be longer): those
            past ``held`` are prefilled once, for one row, into ``cache`` before it is copied to every row.
        eos_ids: Ids that end a row.
        pad_id: Padding id (fed to the model only where the attention mask hides it).
        max_new_tokens: Tokens per row at most.
        temperature: 0 for greedy (argmax), else the sampling temperature (torch's global generator).
        processor: Logits processor, called with the whole batch every step (see the module docstring).
    """
    import copy

    import torch

    n = len(prompts)
    device = next(model.parameters()).device
    eos = set(int(t) for t in eos_ids)
    last = {"logits_to_keep": 1} if _keeps_last_logits(model) else {}
    widths: list[int] = []
    if n > 1 and shared > held:
        head = torch.tensor([list(prompts[0][held:shared])], dtype=torch.long, device=device)
        ones = torch.ones((1, shared), dtype=torch.long, device=device)
        at = torch.arange(held, shared, device=device)[None]
        _step(model, head, ones, at, {cache_name: cache, "use_cache": True, **last})
        widths.append(1)
        held = shared
    if n > 1 and held:
        cache = copy.deepcopy(cache)  # the caller's one-row cache stays reusable
        cache.batch_repeat_interleave(n)
    options: dict[str, Any] = {cache_name: cache, "use_cache": True}
    rests = [list(p[held:]) for p in prompts]
    width = max(len(r) for r in rests)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, held + width), dtype=torch.long)
    mask[:, :held] = 1
    for row, rest in enumerate(rests):
        ids[row, width - len(rest) :] = torch.tensor(rest, dtype=torch.long)
        mask[row, held + width - len(rest) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, held:]
    widths.append(n)
    logits = _step(model, ids, mask, positions, {**options, **last})
    seen = ids  # what a logits processor sees: the prompts' ends, then every step's tokens
    active = list(range(n))  # original row of each row still in the batch
    rows: list[list[int]] = [[] for _ in range(n)]
    for step in range(max_new_tokens):
        scores = logits
        if processor is not None:
            scores = _process(processor, seen, logits, active, n)
        if temperature > 0:
            tokens = torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1).squeeze(1)
        else:
            tokens = scores.argmax(dim=-1)
        chosen = tokens.tolist()
        keep: list[int] = []
        for j, (row, token) in enumerate(zip(active, chosen, strict=True)):
            rows[row].append(int(token))
            if int(token) not in eos:
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if processor is not None:
            column = torch.full((n, 1), pad_id, dtype=torch.long, device=device)
            column[active, 0] = tokens
            seen = torch.cat([seen, column], dim=1)
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(index)
            tokens, mask = tokens[index], mask[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        widths.append(len(active))
        logits = _step(model, tokens[:, None], mask, mask.sum(-1, keepdim=True) - 1, options)
    return Decoded(rows=rows, widths=widths)


def _step(model: Any, ids: Any, mask: Any, positions: Any, kw: dict[str, Any]) -> Any:
    """One forward pass; the last position's logits in float32 (as ``generate`` scores them)."""
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **kw)
    return out.logits[:, -1, :].float()


def _process(processor: Processor, seen: torch.Tensor, logits: Any, active: list[int], n: int) -> Any:
    """Run ``processor`` on the whole batch (rows that left filled in) and return the active rows' scores."""
    if len(active) == n:
        return processor(seen, logits)
    full = logits.new_zeros((n, logits.shape[-1]))
    full[active] = logits
    return processor(seen, full)[active]
