"""Statistics behind the escalation decision, on scipy (a maintained implementation, not hand-written).

* :func:`proportion_interval` — Wilson (default) or Clopper-Pearson interval of one rung's rate,
  from ``scipy.stats.binomtest(...).proportion_ci``;
* :func:`paired_binary` — two rungs on the same items, a yes/no outcome per item (schema validity,
  whole-answer correctness): the exact McNemar test, i.e. a two-sided exact binomial (sign) test on
  the discordant pairs (``scipy.stats.binomtest``);
* :func:`paired_ratio` — two rungs on the same items, a pooled ratio (field accuracy = matched gold
  leaves / all gold leaves): a seeded paired bootstrap interval of the difference
  (``scipy.stats.bootstrap``, ``paired=True``) and a seeded paired permutation test for its p-value
  (``scipy.stats.permutation_test``, labels swapped within each item; exact when ``2**n`` is small);
* :func:`items_needed_binary`, :func:`items_needed_mean`, :func:`items_for_lower_bound` — how many
  test items would settle a comparison (power 0.8 at the observed effect) or bring a lower bound to a
  target.

scipy is imported lazily; without it a :class:`~formbound.errors.DependencyError` names the extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from formbound.errors import ConfigError, DependencyError

__all__ = [
    "DEFAULT_ALPHA",
    "PairedComparison",
    "items_for_lower_bound",
    "items_needed_binary",
    "items_needed_mean",
    "paired_binary",
    "paired_ratio",
    "proportion_interval",
]

#: Significance level of the paired tests unless told otherwise.
DEFAULT_ALPHA = 0.05
#: Power the item estimates aim for.
POWER = 0.8
#: Resamples of the bootstrap and the permutation test.
RESAMPLES = 9999
#: The most items an estimate searches up to; beyond it the answer is "more than this".
MAX_ITEMS = 100_000


def _scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError as exc:
        raise DependencyError(
            "the escalation decision's statistics need scipy; install it with: pip install 'formbound[stats]'"
        ) from exc
    return scipy.stats


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is a significance level in (0, 1), got {alpha}; e.g. 0.05")


def proportion_interval(
    k: int, n: int, *, confidence: float = 0.95, method: str = "wilson"
) -> tuple[float, float]:
    """The interval of a rate ``k / n``: ``method`` ``"wilson"`` or ``"exact"`` (Clopper-Pearson).

    >>> lo, hi = proportion_interval(8, 8)
    >>> round(lo, 3), hi
    (0.676, 1.0)
    >>> proportion_interval(0, 0)
    (0.0, 1.0)
    """
    if method not in ("wilson", "exact"):
        raise ConfigError(f"interval method must be 'wilson' or 'exact', got {method!r}")
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ConfigError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    ci = _scipy_stats().binomtest(k, n).proportion_ci(confidence_level=confidence, method=method)
    return (float(ci.low), float(ci.high))


@dataclass(frozen=True)
class PairedComparison:
    """Rung A against rung B on the same items, for one metric.

    Attributes:
        metric: ``"validity"``, ``"correct"`` or ``"field_accuracy"``.
        test: The test, in words (with the library that computed it).
        n: Items paired.
        a: A's value (share) on those items; ``b`` likewise.
        difference: ``a - b``.
        interval: Interval of the difference at ``1 - alpha`` (seeded paired bootstrap).
        p_value: Two-sided p-value of "no difference".
        alpha: The significance level.
        a_only: Items where A did better than B (discordant pairs in A's favour); ``b_only`` likewise.
        items_needed: Items at which the test would reach ``alpha`` with power 0.8 at the observed
            effect; ``None`` when the observed effect is zero (no finite number would).
    """

    metric: str
    test: str
    n: int
    a: float
    b: float
    difference: float
    interval: tuple[float, float]
    p_value: float
    alpha: float
    a_only: int
    b_only: int
    items_needed: int | None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """``"better"``/``"worse"`` (A vs B, significant at ``alpha``), or ``"no significant difference"``."""
        if not self.significant or self.difference == 0:
            return "no significant difference"
        return "better" if self.difference > 0 else "worse"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict}

    def sentence(self, a_name: str, b_name: str) -> str:
        lo, hi = self.interval
        return (
            f"{self.metric.replace('_', ' ')} `{a_name}` {self.a:.0%} vs `{b_name}` {self.b:.0%} on {self.n} "
            f"paired items: difference {self.difference:+.0%} "
            f"[{lo:+.0%}, {hi:+.0%}], {self.test} p = {self.p_value:.3g} (alpha {self.alpha:g})"
        )


def _bootstrap_interval(
    ok: Any, tot: Any, n: int, alpha: float, seed: int, difference: float
) -> tuple[float, float]:
    """Paired bootstrap of ``ratio(A) - ratio(B)``: items resampled with their two outcomes together."""
    import numpy as np

    st = _scipy_stats()
    x, y = np.arange(n), np.arange(n, 2 * n)

    def stat(x: Any, y: Any, axis: int = -1) -> Any:
        return ok[x].sum(axis) / tot[x].sum(axis) - ok[y].sum(axis) / tot[y].sum(axis)

    per_item = ok[:n] / tot[:n] - ok[n:] / tot[n:]
    if n < 2 or (np.all(per_item == per_item[0]) and np.all(tot[:n] == tot[0])):
        return (difference, difference)  # no spread to resample
    res = st.bootstrap(
        (x, y),
        stat,
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        confidence_level=1 - alpha,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (min(lo, difference), max(hi, difference))


def paired_binary(
    metric: str, a: Sequence[bool], b: Sequence[bool], *, alpha: float = DEFAULT_ALPHA, seed: int = 0
) -> PairedComparison:
    """Exact McNemar test of two yes/no outcomes on the same items.

    The p-value is the two-sided exact binomial test of the discordant pairs against 1/2
    (``scipy.stats.binomtest``); the interval of the difference comes from a seeded paired bootstrap.

    >>> c = paired_binary("validity", [True] * 12 + [False] * 8, [False] * 20)
    >>> c.a_only, c.b_only, round(c.p_value, 5), c.verdict
    (12, 0, 0.00049, 'better')
    """
    import numpy as np

    _check_alpha(alpha)
    if len(a) != len(b):
        raise ConfigError(f"paired outcomes need the same items: got {len(a)} and {len(b)}")
    n = len(a)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    pa = sum(map(bool, a)) / n if n else 0.0
    pb = sum(map(bool, b)) / n if n else 0.0
    p = 1.0 if a_only + b_only == 0 else float(_scipy_stats().binomtest(a_only, a_only + b_only).pvalue)
    ok = np.array([float(bool(v)) for v in [*a, *b]])
    interval = _bootstrap_interval(ok, np.ones(2 * n), n, alpha, seed, pa - pb) if n else (0.0, 0.0)
    return PairedComparison(
        metric=metric,
        test="exact McNemar (binomial test on discordant pairs, scipy.stats.binomtest)",
        n=n,
        a=pa,
        b=pb,
        difference=pa - pb,
        interval=interval,
        p_value=p,
        alpha=alpha,
        a_only=a_only,
        b_only=b_only,
        items_needed=items_needed_binary(a_only, b_only, n, alpha=alpha),
    )


def paired_ratio(
    metric: str,
    a: Sequence[tuple[float, float]],
    b: Sequence[tuple[float, float]],
    *,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> PairedComparison:
    """Two pooled ratios on the same items, each item given as ``(matched, total)`` per rung.

    The difference is ``sum(matched_A)/sum(total_A) - sum(matched_B)/sum(total_B)`` (how field accuracy
    is reported); its interval is a seeded paired bootstrap over items and its p-value a seeded paired
    permutation test (A and B swapped within items; exact enumeration when ``2**n`` ≤ 9999).

    >>> c = paired_ratio("field_accuracy", [(2, 2)] * 10, [(1, 2)] * 10)
    >>> c.difference, c.interval, round(c.p_value, 4), c.verdict
    (0.5, (0.5, 0.5), 0.002, 'better')
    """
    import numpy as np

    _check_alpha(alpha)
    if len(a) != len(b):
        raise ConfigError(f"paired outcomes need the same items: got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0 or any(t <= 0 for _, t in [*a, *b]):
        raise ConfigError("a paired ratio needs at least one item and a positive total on every item")
    ok = np.array([float(m) for m, _ in [*a, *b]])
    tot = np.array([float(t) for _, t in [*a, *b]])
    ra, rb = ok[:n].sum() / tot[:n].sum(), ok[n:].sum() / tot[n:].sum()
    diff = float(ra - rb)
    per_item = ok[:n] / tot[:n] - ok[n:] / tot[n:]
    if np.all(per_item == 0):
        p = 1.0
    else:
        st = _scipy_stats()
        x, y = np.arange(n), np.arange(n, 2 * n)

        def stat(x: Any, y: Any, axis: int = -1) -> Any:
            return ok[x].sum(axis) / tot[x].sum(axis) - ok[y].sum(axis) / tot[y].sum(axis)

        res = st.permutation_test(
            (x, y),
            stat,
            permutation_type="samples",
            vectorized=True,
            n_resamples=RESAMPLES,
            rng=np.random.default_rng(seed),
        )
        p = min(1.0, float(res.pvalue))
    return PairedComparison(
        metric=metric,
        test="paired permutation test (scipy.stats.permutation_test); "
        "interval: paired bootstrap (scipy.stats.bootstrap)",
        n=n,
        a=float(ra),
        b=float(rb),
        difference=diff,
        interval=_bootstrap_interval(ok, tot, n, alpha, seed, diff),
        p_value=p,
        alpha=alpha,
        a_only=int(np.sum(per_item > 0)),
        b_only=int(np.sum(per_item < 0)),
        items_needed=items_needed_mean([float(v) for v in per_item], alpha=alpha),
    )


def _search(ok: Any, start: int) -> int | None:
    """The smallest n ≥ start with ``ok(n)``, by doubling then bisection; None past MAX_ITEMS."""
    lo, hi = start, max(start, 1)
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_ITEMS:
            return None if not ok(MAX_ITEMS) else _bisect(ok, lo, MAX_ITEMS)
    return _bisect(ok, lo, hi)


def _bisect(ok: Any, lo: int, hi: int) -> int:
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def items_needed_binary(a_only: int, b_only: int, n: int, *, alpha: float = DEFAULT_ALPHA) -> int | None:
    """Items at which the exact McNemar test reaches ``alpha`` with power 0.8, if the observed rates
    held: discordance ``(a_only + b_only) / n`` and a split ``a_only : b_only`` of discordant pairs.

    Power at N items is the sum over the number of discordant pairs d ~ Binomial(N, discordance) of
    the chance that the exact two-sided binomial test on d rejects (scipy.stats.binom). None when the
    observed effect is zero or the answer exceeds 100,000 items.

    >>> items_needed_binary(12, 0, 20)
    12
    >>> items_needed_binary(3, 3, 20) is None
    True
    """
    _check_alpha(alpha)
    if n <= 0 or a_only == b_only:
        return None
    import numpy as np

    binom = _scipy_stats().binom
    discordance = (a_only + b_only) / n
    split = a_only / (a_only + b_only)

    def power(big_n: int) -> float:
        # only the numbers of discordant pairs with a non-negligible chance matter
        lo, hi = binom.ppf(1e-12, big_n, discordance), binom.isf(1e-12, big_n, discordance)
        d = np.arange(int(max(lo - 1, 0)), int(min(hi + 1, big_n)) + 1)
        # largest k with 2 * P(X <= k | d, 1/2) <= alpha (-1 when none): the two-sided rejection region
        k = binom.ppf(alpha / 2, d, 0.5).astype(int)
        k = np.where(2 * binom.cdf(k, d, 0.5) <= alpha, k, k - 1)
        reject = np.where(k >= 0, binom.cdf(k, d, split) + binom.sf(d - k - 1, d, split), 0.0)
        return float(np.sum(binom.pmf(d, big_n, discordance) * reject))

    return _search(lambda m: power(m) >= POWER, 1)


def items_needed_mean(differences: Sequence[float], *, alpha: float = DEFAULT_ALPHA) -> int | None:
    """Items at which a paired test of the mean difference reaches ``alpha`` with power 0.8, by the
    normal approximation ``((z(1 - alpha/2) + z(0.8)) * sd / mean) ** 2`` (scipy.stats.norm).

    >>> items_needed_mean([0.1, 0.3, -0.1, 0.2, 0.0])
    20
    """
    _check_alpha(alpha)
    import math
    import statistics

    if len(differences) < 2:
        return None
    mean = statistics.fmean(differences)
    sd = statistics.stdev(differences)
    if mean == 0:
        return None
    if sd == 0:
        return len(differences)
    norm = _scipy_stats().norm
    need = ((norm.ppf(1 - alpha / 2) + norm.ppf(POWER)) * sd / abs(mean)) ** 2
    return min(MAX_ITEMS, max(2, math.ceil(need)))


def items_for_lower_bound(rate: float, target: float, *, confidence: float = 0.95) -> int | None:
    """Items at which a rung measuring ``rate`` would have the lower bound of its Wilson interval at
    ``target`` or above; None when ``rate`` does not exceed ``target`` (no number of items would).

    >>> items_for_lower_bound(1.0, 0.9)
    35
    >>> items_for_lower_bound(0.9, 0.95) is None
    True
    """
    if rate <= target:
        return None

    def ok(n: int) -> bool:
        # the closest count to `rate` that does not exceed it, so the estimate errs on the safe side
        k = int(rate * n + 1e-9)
        return proportion_interval(k, n, confidence=confidence)[0] >= target

    return _search(ok, 1)
