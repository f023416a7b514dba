"""Template substitution: new train inputs made by swapping field values between train items."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from formbound.escalate.quality import normalize_input

if TYPE_CHECKING:
    from formbound.measure.tasks import Task

__all__ = ["augment_by_substitution"]


# ----------------------------------------------------------------------- template augmentation
_LeafKey = tuple[str, ...]


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) of every string/number leaf; array indices kept in ``path``."""
    out: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _leaves(sub, (*path, str(key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _leaves(sub, (*path, str(i)))
    elif isinstance(value, str) and len(value.strip()) >= 2:
        out.append((path, value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append((path, value))
    return out


def _field_key(path: tuple[str, ...]) -> _LeafKey:
    return tuple("*" if part.isdigit() else part for part in path)


def _set_path(value: Any, path: tuple[str, ...], new: Any) -> None:
    for part in path[:-1]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    last = path[-1]
    if isinstance(value, list):
        value[int(last)] = new
    else:
        value[last] = new


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(text) + r"(?![\w])")


def augment_by_substitution(items: Sequence[Task], n: int, *, seed: int = 0) -> list[Task]:
    """Up to ``n`` new (input, gold) pairs made by swapping field values between train items.

    A leaf value of an item's gold that occurs verbatim (on word boundaries) in its input, and does
    not overlap another leaf's text, is replaced in both the input and the gold by the value another
    item has for the same field. Only the given items' values are used, so nothing outside them
    (e.g. a test item) can leak in. Returned items have ids ``<source id>~t<k>`` and split ``train``.
    """
    from formbound.measure.tasks import Task

    if n <= 0:
        return []
    golds = [it for it in items if isinstance(it.gold, (dict, list))]
    pools: dict[tuple[_LeafKey, type], list[Any]] = {}
    for it in golds:
        for path, leaf in _leaves(it.gold):
            bucket = pools.setdefault((_field_key(path), type(leaf)), [])
            if leaf not in bucket:
                bucket.append(leaf)
    rng = random.Random(seed)
    out: list[Task] = []
    seen = {normalize_input(it.input) for it in items}
    tries = 0
    while golds and len(out) < n and tries < n * 20:
        tries += 1
        base = rng.choice(golds)
        leaves = _leaves(base.gold)
        texts = [str(v) for _, v in leaves]
        new_gold = json.loads(json.dumps(base.gold))
        new_input = base.input
        swaps: list[tuple[str, str]] = []
        for (path, leaf), text in zip(leaves, texts, strict=False):
            overlaps = any(o != text and (o in text or text in o) for o in texts)
            if overlaps or texts.count(text) > 1 or len(_pattern(text).findall(base.input)) != 1:
                continue
            choices = [v for v in pools.get((_field_key(path), type(leaf)), []) if v != leaf]
            if not choices:
                continue
            new = rng.choice(choices)
            _set_path(new_gold, path, new)
            swaps.append((text, str(new)))
        if not swaps:
            continue
        # Placeholders first, so a new value can never be hit by a later swap.
        for k, (old, _new) in enumerate(swaps):
            new_input = _pattern(old).sub(f"\x00{k}\x00", new_input, count=1)
        for k, (_old, new) in enumerate(swaps):
            new_input = new_input.replace(f"\x00{k}\x00", new)
        key = normalize_input(new_input)
        if key in seen:
            continue
        seen.add(key)
        out.append(Task(f"{base.id}~t{len(out) + 1}", new_input, new_gold, "train"))
    return out
