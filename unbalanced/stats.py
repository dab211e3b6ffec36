"""Comparing each remedy with the baseline: paired runs on one fixed test block, an interval that counts the test
images' noise once, the smallest difference a run could detect, and Holm's correction across remedies.

Every run is scored on the same test images (splits.TEST_SEED fixes them; only the training pools change with the
split seed), so a paired difference d_s = AP(remedy) - AP(baseline) per split holds three kinds of noise: training and
training-pool noise, which differs from split to split; the part of the test images' noise that differs between
models (split-specific); and the part every run shares, because they are all scored on the same photos. The spread of
the d_s between splits holds the first two once. The shared part does not shrink with more splits; it is the
covariance between splits' differences under one resample of the test images applied to every run at once (positives
and negatives resampled separately): the mean off-diagonal covariance of the S columns of B such resamples. So

    se^2 = var(d_s) / S + c,    c = mean over s != t of cov_boot(d_s, d_t)  (0 if negative)

with Welch-Satterthwaite degrees of freedom, (var/S + c)^2 / ((var/S)^2 / (S - 1)); the image term's are taken as
infinite (thousands of photos). With c = 0 this is exactly a one-sample t on the split means
(scipy.stats.ttest_1samp), which tests/test_stats.py checks; benchmarks/calibration.py checks the error rate and
the power in simulated studies. Taking the whole variance of the mean under the resample instead of c would count the
split-specific image noise twice (it is already in var(d_s)).

scipy.stats.bootstrap resamples a sample of observations, not test images shared across every model of a study, so
the resample is written here; scipy provides the t distributions, and Holm's step-down (not in scipy) is a few lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from .metrics import (
    ap_rows,
    at_threshold_rows,
    auc_rows,
    best_f1_threshold,
    negative_weight,
)
from .tasks import Record

MIN_SPLITS = 3  # fewer independent splits cannot separate a remedy from split-to-split and training noise
REMEDY_FAMILY = 6  # the remedies the summary corrects across: a remedy notebook states its power for that family
ALPHA = 0.05
POWER = 0.8  # the power at which a run's detectable difference is stated
N_BOOT = 1000  # resamples of the test images for the image term
BETTER, WORSE, NO_DIFFERENCE, TOO_FEW = "better than the baseline", "worse than the baseline", "no difference shown", "too few runs to judge"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, TOO_FEW)
PENDING = "pending"  # compared, but not yet corrected across remedies (the summary does that)
IDENTICAL = "trains exactly the baseline"  # the same models in every run: no comparison to make, outside Holm's family
VALIDATION_THRESHOLD = "best F1 on validation"


def _threshold(record: Record, point: str) -> float:
    return 0.5 if point == "0.5" else best_f1_threshold(record.val_labels, record.trained.val_scores)


def _negatives_times(record: Record) -> float:
    return negative_weight(record.test_labels, record.val_labels)


def _at(what: str, point: str) -> Callable[[Record, np.ndarray], np.ndarray]:
    return lambda r, c: at_threshold_rows(r.test_labels, r.trained.test_scores, c, _threshold(r, point), _negatives_times(r))[what]


# A comparison's metric: its name in sentences -> its value on a record's test scores, at the deployment prior, for
# each row of test-image counts (a resample's). Thresholds come from 0.5 or the record's validation scores.
METRICS: dict[str, Callable[[Record, np.ndarray], np.ndarray]] = {
    "AP": lambda r, c: ap_rows(r.test_labels, r.trained.test_scores, c, _negatives_times(r)),
    "ROC-AUC": lambda r, c: auc_rows(r.test_labels, r.trained.test_scores, c, _negatives_times(r)),
    **{f"{what} at {point}": _at(what, point) for what in ("recall", "precision") for point in ("0.5", VALIDATION_THRESHOLD)},
}


def score_of(record: Record, metric: str = "AP") -> float:
    """A record's test `metric` at the deployment prior (AP by default)."""
    return float(metric_rows(record, metric, 0)[0])


@dataclass(frozen=True)
class Estimate:
    """A mean over splits with its standard error in two parts (between splits; the test images every run shares),
    Welch-Satterthwaite degrees of freedom, a two-sided p-value against zero and the 95 % interval."""

    mean: float
    se_split: float
    se_image: float
    splits: int

    @property
    def se(self) -> float:
        """The standard error: both parts, each counted once."""
        return float(np.hypot(self.se_split, self.se_image))

    @property
    def df(self) -> float:
        """The degrees of freedom of the t reference: (S - 1)(1 + c / a), see `degrees_of_freedom`."""
        return float(degrees_of_freedom(self.se_split**2, self.se_image**2, self.splits))

    @property
    def p_value(self) -> float:
        """Two-sided p-value of a mean of zero; with no spread at all, 1 for a zero mean and 0 otherwise."""
        from scipy import stats

        if self.se == 0.0:
            return 1.0 if self.mean == 0.0 else 0.0
        return float(2 * stats.t.sf(abs(self.mean) / self.se, self.df))

    def interval(self, alpha: float = ALPHA) -> tuple[float, float]:
        """The (1 - alpha) interval: mean ± t(df) · se."""
        from scipy import stats

        half = float(stats.t.ppf(1 - alpha / 2, self.df)) * self.se if self.se else 0.0
        return self.mean - half, self.mean + half


def degrees_of_freedom(var_split: Any, var_image: Any, splits: int) -> Any:
    """(S - 1)(1 + c / a) for a split term a = var/S with S - 1 degrees of freedom and an image term c taken as exact:
    S - 1 without an image term, infinite with no split spread.

    Welch-Satterthwaite's (S - 1)(1 + c/a)^2 is the textbook choice, but with few splits a small sample variance
    inflates it and the test rejects up to 7.8 % of null studies at 3 splits (docs/protocol.md gives the sweep over
    c/a); the first power keeps every ratio between 3.7 % and 5.7 % at 3 splits and converges to the same t as the
    splits grow. Chosen by that calibration, and checked by tests/test_stats.py and benchmarks/calibration.py."""
    a, c = np.asarray(var_split, float), np.asarray(var_image, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, (splits - 1) * (1 + c / np.where(a > 0, a, 1.0)), np.inf)


def estimate(values: Sequence[float], resampled: np.ndarray | None = None) -> Estimate:
    """The estimate from one value per split and, optionally, the same values under B resamples of the shared test
    images (a B x S array): the image term is the mean covariance between different splits' columns."""
    x = np.asarray(values, float)
    s = len(x)
    var_image = 0.0
    if resampled is not None and s > 1:
        cov = np.cov(np.asarray(resampled, float), rowvar=False)
        var_image = max(0.0, float((cov.sum() - np.trace(cov)) / (s * (s - 1))))
    se_split = float(np.std(x, ddof=1) / np.sqrt(s)) if s > 1 else float("nan")
    return Estimate(float(np.mean(x)) if s else float("nan"), se_split, float(np.sqrt(var_image)), s)


def minimum_detectable(se: float, df: float, family: int = 1, power: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest true difference found with probability `power` by a two-sided test at alpha / family (Holm's first
    step, which is where a lone true effect among nulls is tested): (t_(1 - alpha/2m) + t_power) · se."""
    from scipy import stats

    return float((stats.t.ppf(1 - alpha / (2 * family), df) + stats.t.ppf(power, df)) * se)


def power_of(effect: float, se: float, df: float, family: int = 1, alpha: float = ALPHA) -> float:
    """The probability that a true `effect` is called significant at alpha / family: the noncentral t's two tails."""
    from scipy import stats

    critical, shift = stats.t.ppf(1 - alpha / (2 * family), df), effect / se
    if not np.isfinite(df):
        return float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


@dataclass(frozen=True)
class Comparison:
    """A remedy against a reference (the baseline) over paired runs: mean difference in a test metric, its 95 %
    interval (before Holm's correction), its standard error and degrees of freedom, the probability of improvement,
    and the verdict after the correction across a family of `family` comparisons."""

    remedy: str
    runs: int  # paired runs
    splits: int  # independent splits among them
    difference: float  # mean over splits of the mean over their seeds of metric(remedy) - metric(reference)
    low: float
    high: float
    p_value: float
    improvement: float  # share of paired runs in which the remedy's metric is higher (ties count half)
    p_holm: float = float("nan")
    verdict: str = PENDING
    metric: str = "AP"  # a key of METRICS
    se: float = float("nan")
    se_image: float = float("nan")  # the part of se that the shared test images contribute
    df: float = float("nan")
    family: int = 1  # comparisons in its Holm family

    @property
    def wins(self) -> str:
        """In how many paired runs the remedy's metric is higher (a tie counts half)."""
        return f"{self.improvement * self.runs:g}"

    @property
    def judged(self) -> bool:
        """Whether there are enough independent splits for an interval and a verdict."""
        return self.splits >= MIN_SPLITS and self.difference == self.difference

    @property
    def detectable(self) -> float:
        """The smallest true difference this run would find with 80 % power after Holm's correction over its family."""
        return minimum_detectable(self.se, self.df, self.family) if self.judged else float("nan")

    def _numbers(self) -> str:
        return (f"{self.remedy[:1].upper() + self.remedy[1:]}: {signed(self.difference)} {self.metric} (95 % interval {signed(self.low)} to {signed(self.high)}, "
                f"before correction), higher in {self.wins} of {self.runs} paired runs")  # fmt: skip

    def _power(self, uncorrected: bool = False) -> str:
        over = f" after Holm's correction over {self.family}" if self.family > 1 and not uncorrected else ""
        reach = minimum_detectable(self.se, self.df) if uncorrected else self.detectable
        return (f"from its own spread, this run detects a true difference of about ±{reach:.3f} {self.metric} "
                f"with 80 % power{over}")  # fmt: skip

    def _too_few(self) -> str:
        return f"{self.remedy}: {TOO_FEW} ({self.splits} split{'s' * (self.splits != 1)}; at least {MIN_SPLITS} independent splits are needed)."

    def sentence(self) -> str:
        """The verdict in words, numbers and detectable difference included: nothing beyond the interval and Holm."""
        if self.verdict == IDENTICAL:
            return (f"{self.remedy[:1].upper() + self.remedy[1:]}: {IDENTICAL} (the same models in every paired run), so it is "
                    "left out of Holm's correction.")
        if not self.judged:
            return self._too_few()
        verdict = f"{NO_DIFFERENCE} (this study cannot tell it from the baseline)" if self.verdict == NO_DIFFERENCE else self.verdict
        return f"{self._numbers()}; Holm-adjusted {p_text(self.p_holm)}: {verdict}; {self._power()}."

    def provisional_sentence(self, secondary: bool = False) -> str:
        """The comparison before any correction, and no verdict: a remedy's, whose correction across all remedies the
        summary applies, or (secondary) a comparison outside that family, which no verdict is drawn from."""
        if not self.judged:
            return self._too_few()
        if secondary:
            return f"{self._numbers()}; {p_text(self.p_value)}, uncorrected: a secondary comparison, outside the summary's verdicts; {self._power(uncorrected=True)}."
        return (f"{self._numbers()}; {p_text(self.p_value)} before the correction across all remedies, which the summary "
                f"applies; {self._power()}.")  # fmt: skip


def p_text(p: float) -> str:
    """A p-value as a reader writes it: "p = 0.046", or "p < 0.001" where three decimals would print 0.000."""
    return "p < 0.001" if p < 0.0005 else f"p = {p:.3f}"


def signed(x: float) -> str:
    """A difference with its sign and three decimals, more where three would print a non-zero value as 0.000."""
    # An interval's end of -0.0005 printed as +0.000 would read as touching zero beside "the interval excludes zero".
    for decimals in range(3, 7):
        if round(x, decimals) != 0:
            return f"{x:+.{decimals}f}"
    return "+0.000"  # zero, or too small to matter at any precision a reader could use


def paired(baseline: Sequence[Record], remedy: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each remedy record with the baseline record of the same split seed and seed. Each side must hold one
    record per run, every remedy run needs its baseline, and all records must share one protocol and one test block:
    anything else is an error, never a silently smaller comparison."""
    for side, name in ((baseline, "baseline"), (remedy, "remedy")):
        runs = [r.run for r in side]
        if len(runs) != len(set(runs)):
            raise ValueError(f"the {name} records hold a run twice: pass one record per (split seed, seed)")
    by_run = {r.run: r for r in baseline}
    missing = sorted(r.run for r in remedy if r.run not in by_run)
    if missing:
        raise ValueError(f"no baseline record for the paired run(s) {missing} (split seed, seed)")
    pairs = sorted(((by_run[r.run], r) for r in remedy), key=lambda p: p[1].run)
    if len({b.protocol for pair in pairs for b in pair}) > 1 or len({b.test_fingerprint for pair in pairs for b in pair}) > 1:
        raise ValueError(f"{remedy[0].label} and {baseline[0].label} were made under different protocols or test sets "
                         "and cannot be paired")  # fmt: skip
    return pairs


def paired_differences(baseline: Sequence[Record], remedy: Sequence[Record], metric: str = "AP") -> list[float]:
    """Test AP (or another of METRICS) of the remedy minus the baseline's, per paired run."""
    return [score_of(r, metric) - score_of(b, metric) for b, r in paired(baseline, remedy)]


def resample_counts(records: Sequence[Record], n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """B rows of test-image counts: each a stratified resample of the shared test block (positives and negatives
    drawn separately, with replacement). One draw serves every run; with n_boot = 0, one row of ones (the block as it
    is). Whole numbers as float32: exact, and half the memory the metrics must read."""
    return _counts(records[0].test_labels.astype(bool).tobytes(), n_boot, seed)


@lru_cache(maxsize=2)  # 16 MB each at 3,900 test photos; a study's comparisons all draw the same one
def _counts(test_labels: bytes, n_boot: int, seed: int) -> np.ndarray:
    labels = np.frombuffer(test_labels, bool)
    if not n_boot:
        counts = np.ones((1, len(labels)), np.float32)
    else:
        rng = np.random.default_rng(seed)
        counts = np.zeros((n_boot, len(labels)), np.float32)
        for members in (np.flatnonzero(labels), np.flatnonzero(~labels)):
            counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_boot)
    counts.flags.writeable = False
    return counts


# A record's metric under the resamples, by the content it is computed from (scores and labels: two records that
# share them share rows, and a record whose scores differ never does). Every comparison with the baseline rescores the
# baseline's records under the same resamples, and a sweep compares each of its baselines several times: computed once,
# the summary's comparisons take about half the time and the ratio sweep's about a third. A dict, not lru_cache:
# records hold arrays and are not hashable. At most _MAX_ROWS rows of n_boot floats (8 KB each at 1,000).
_ROWS: dict[tuple[bytes, str, int, int], np.ndarray] = {}
_MAX_ROWS = 8192


def _content(record: Record) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for a in (record.test_labels, record.val_labels, record.trained.test_scores, record.trained.val_scores):
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.digest()


def metric_rows(record: Record, metric: str, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """A record's test `metric` (a key of METRICS) at the deployment prior under each of `n_boot` resamples of its
    test block drawn from `seed` (`resample_counts`); n_boot = 0: its one value. Read-only, computed once."""
    key = (_content(record), metric, n_boot, seed if n_boot else 0)
    values = _ROWS.get(key)
    if values is None:
        values = np.array(METRICS[metric](record, resample_counts([record], n_boot, seed)), float)
        values.flags.writeable = False
        if len(_ROWS) >= _MAX_ROWS:
            del _ROWS[next(iter(_ROWS))]  # the oldest
        _ROWS[key] = values
    return values


def forget_rows() -> None:
    """Drop the kept rows and resample draws (tests that change how a metric is computed; benchmarks)."""
    _ROWS.clear()
    _counts.cache_clear()


def split_values(pairs: Sequence[tuple[Record, Record]], metric: str, n_boot: int = N_BOOT, seed: int = 0) -> tuple[list[int], np.ndarray]:
    """The split seeds and, per resample of the test block (`metric_rows`), each split's mean paired difference over
    its seeds (rows x splits); n_boot = 0: one row, at the deployment prior."""
    splits = sorted({b.split_seed for b, _ in pairs})
    out = np.empty((max(n_boot, 1), len(splits)))
    for k, s in enumerate(splits):
        out[:, k] = np.mean([metric_rows(r, metric, n_boot, seed) - metric_rows(b, metric, n_boot, seed)
                             for b, r in pairs if b.split_seed == s], axis=0)  # fmt: skip
    return splits, out


def compare(baseline: Sequence[Record], remedy: Sequence[Record], name: str, n_boot: int = N_BOOT, seed: int = 0,
            metric: str = "AP", family: int = 1) -> Comparison:  # fmt: skip
    """The remedy's paired comparison with the baseline in a test metric (AP at the deployment prior by default);
    n_boot = 0 leaves the image term out (then it is a one-sample t on the split means). Its verdict comes from `holm`."""
    return contrast([(baseline, remedy)], [1.0], name, n_boot, seed, metric, family)


def contrast(groups: Sequence[tuple[Sequence[Record], Sequence[Record]]], coefficients: Sequence[float], name: str,
             n_boot: int = N_BOOT, seed: int = 0, metric: str = "AP", family: int = 1) -> Comparison:  # fmt: skip
    """A weighted sum of paired differences, sum_k c_k (metric(remedy_k) - metric(baseline_k)), per split, estimated
    like a single difference: a trend across a sweep is the slope's weights over its x. Every group must hold the
    same paired runs; every record, one test block."""
    pairs = [paired(b, r) for b, r in groups]
    runs = [[b.run for b, _ in p] for p in pairs]
    if any(r != runs[0] for r in runs) or len({b.test_fingerprint for p in pairs for b, _ in p}) > 1:
        raise ValueError(f"{name}: every group of a contrast must hold the same paired runs on one test block")
    per_run = np.sum([c * np.array(paired_differences(b, r, metric)) for c, (b, r) in zip(coefficients, groups)], axis=0)
    defined = ~np.isnan(per_run)
    improvement = float(np.mean((per_run[defined] > 0) + 0.5 * (per_run[defined] == 0))) if defined.any() else float("nan")

    def values(resamples: int) -> tuple[list[int], np.ndarray]:
        parts = [split_values(p, metric, resamples, seed) for p in pairs]
        return parts[0][0], np.sum([c * v for c, (_, v) in zip(coefficients, parts)], axis=0)

    nan = float("nan")
    splits, means = values(0)
    if len(splits) < MIN_SPLITS or np.isnan(means).any():  # too few splits, or a metric some run leaves undefined
        return Comparison(name, len(runs[0]), len(splits), float(np.mean(means)), nan, nan, nan, improvement,
                          verdict=TOO_FEW, metric=metric, family=family)  # fmt: skip
    resampled = values(n_boot)[1] if n_boot else None
    if resampled is not None:
        resampled = resampled[~np.isnan(resampled).any(axis=1)]  # a resample that leaves a precision undefined
        if len(resampled) < 0.9 * n_boot:  # the image term would rest on the resamples that happen to define it
            return Comparison(name, len(runs[0]), len(splits), float(np.mean(means)), nan, nan, nan, improvement,
                              verdict=TOO_FEW, metric=metric, family=family)  # fmt: skip
    e = estimate(means[0], resampled)
    low, high = e.interval()
    return Comparison(name, len(runs[0]), len(splits), e.mean, low, high, e.p_value, improvement, metric=metric, se=e.se,
                      se_image=e.se_image, df=e.df, family=family)  # fmt: skip


def slope_weights(x: Sequence[float]) -> np.ndarray:
    """The least-squares slope against log10(x) as a weighted sum of the values at each x: the change per tenfold x."""
    u = np.log10(np.asarray(x, float))
    return (u - u.mean()) / np.sum((u - u.mean()) ** 2)


def holm(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm's step-down correction across the comparisons judged: adjusted p-values, verdicts and the family's size."""
    judged = [c for c in comparisons if c.judged]
    order = sorted(range(len(judged)), key=lambda i: judged[i].p_value)
    adjusted, running = {}, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(judged) - rank) * judged[i].p_value))
        adjusted[i] = running
    result = {id(c): replace(c, verdict=TOO_FEW) for c in comparisons}
    for i, c in enumerate(judged):
        verdict = NO_DIFFERENCE if adjusted[i] >= alpha else (BETTER if c.difference > 0 else WORSE)
        result[id(c)] = replace(c, p_holm=adjusted[i], verdict=verdict, family=len(judged))
    return [result[id(c)] for c in comparisons]


def comparison_table(comparisons: Sequence[Comparison]) -> object:
    """The comparisons as a table (pandas DataFrame): difference, interval, detectable difference, improvement share,
    Holm p and verdict."""
    import pandas as pd

    metric = comparisons[0].metric if comparisons else "AP"
    rows = [{"remedy": c.remedy, "paired runs": c.runs, f"{metric} difference": signed(c.difference),
             "95 % interval (before correction)": f"{signed(c.low)} to {signed(c.high)}" if c.judged else "n/a",
             "detectable (80 % power)": f"±{c.detectable:.3f}" if c.judged else "n/a",
             "higher in": f"{c.wins} of {c.runs}" if c.runs else "n/a",
             "Holm p": p_text(c.p_holm).removeprefix("p = ").removeprefix("p ") if c.judged and c.verdict != PENDING else "n/a",
             "verdict": c.verdict} for c in comparisons]  # fmt: skip
    return pd.DataFrame(rows).set_index("remedy")
