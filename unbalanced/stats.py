"""Comparing each remedy with the baseline: paired runs, a two-level bootstrap interval, the probability of
improvement, and Holm's correction across remedies.

A paired run is one split seed and one seed: the remedy and the baseline trained on the same split from the same
initial weights, scored on the same test images. Runs of one split share their training data, their validation
set and their test images, so the unit of replication is the split: the bootstrap resamples split seeds and, within
each, the test images (positives and negatives separately, the same images for every seed of that split), averaging
the seeds of a split, 2,000 times. The spread of the mean difference in average precision is a standard error that
holds the split-to-split noise, the training noise and the test set's own. With the handful of splits a study
affords, the bootstrap's own percentile interval is far too narrow (docs/protocol.md gives its measured error rate),
so the interval is the mean difference ± Student's t (splits − 1 degrees of freedom) times
the standard error, scaled by √(S/(S−1)) for the split level's small-sample bias; benchmarks/calibration.py and
tests/test_stats.py check that this stays at or under the nominal error rate.

scipy.stats.bootstrap resamples a single level, so the two-level resampling is written here; scipy provides the t
distribution, and Holm's step-down (not in scipy) is a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .metrics import average_precision, average_precision_rows, roc_auc, roc_auc_rows
from .tasks import Record

MIN_SPLITS = 3  # fewer independent splits cannot separate a remedy from split-to-split and training noise
ALPHA = 0.05
BETTER, WORSE, NO_DIFFERENCE, TOO_FEW = "better than the baseline", "worse than the baseline", "no difference shown", "too few runs to judge"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, TOO_FEW)
PENDING = "pending"  # compared, but not yet corrected across remedies (the summary does that)
# The metric a comparison is made in: its name in sentences, its function, and its function over bootstrap rows.
METRICS = {"AP": (average_precision, average_precision_rows), "ROC-AUC": (roc_auc, roc_auc_rows)}


@dataclass(frozen=True)
class Comparison:
    """A remedy against a reference (the baseline) over paired runs: mean difference in test AP, its 95 % interval
    (before Holm's correction), the probability of improvement, and the verdict after the correction."""

    remedy: str
    runs: int  # paired runs: (split seed, seed)
    splits: int  # independent splits among them
    difference: float  # mean over splits of the mean over their seeds of AP(remedy) - AP(reference)
    low: float
    high: float
    p_value: float
    improvement: float  # share of paired runs in which the remedy's AP is higher (ties count half)
    p_holm: float = float("nan")
    verdict: str = PENDING
    metric: str = "AP"  # a key of METRICS

    @property
    def wins(self) -> str:
        """In how many paired runs the remedy's AP is higher (a tie counts half)."""
        return f"{self.improvement * self.runs:g}"

    @property
    def judged(self) -> bool:
        """Whether there are enough independent splits for an interval and a verdict."""
        return self.splits >= MIN_SPLITS

    def _numbers(self) -> str:
        return (f"{self.remedy}: {signed(self.difference)} {self.metric} (95 % interval {signed(self.low)} to {signed(self.high)}, "
                f"before correction), higher in {self.wins} of {self.runs} paired runs")  # fmt: skip

    def _too_few(self) -> str:
        return f"{self.remedy}: {TOO_FEW} ({self.splits} split{'s' * (self.splits != 1)}; at least {MIN_SPLITS} independent splits are needed)."

    def sentence(self) -> str:
        """The verdict in words, numbers included: nothing it says goes beyond the interval and Holm's correction."""
        if not self.judged:
            return self._too_few()
        verdict = f"{NO_DIFFERENCE} (this study cannot tell it from the baseline)" if self.verdict == NO_DIFFERENCE else self.verdict
        return f"{self._numbers()}; Holm-adjusted p = {self.p_holm:.3f}: {verdict}."

    def provisional_sentence(self, secondary: bool = False) -> str:
        """The comparison before any correction, and no verdict: a remedy's, whose correction across all remedies the
        summary applies, or (secondary) a comparison outside that family, which no verdict is drawn from."""
        if not self.judged:
            return self._too_few()
        if secondary:
            return f"{self._numbers()}; p = {self.p_value:.3f}, uncorrected: a secondary comparison, outside the summary's verdicts."
        return f"{self._numbers()}; p = {self.p_value:.3f} before the correction across all remedies, which the summary applies."


def signed(x: float) -> str:
    """A difference with its sign and three decimals; a value that rounds to zero is +0.000, not -0.000."""
    return f"{0.0 if abs(x) < 0.0005 else x:+.3f}"


def paired(baseline: Sequence[Record], remedy: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each remedy record with the baseline record of the same split seed and seed. Each side must hold one
    record per run, every remedy run needs its baseline, and all records must share one protocol and, per split, one
    test set: anything else is an error, never a silently smaller comparison."""
    for side, name in ((baseline, "baseline"), (remedy, "remedy")):
        runs = [r.run for r in side]
        if len(runs) != len(set(runs)):
            raise ValueError(f"the {name} records hold a run twice: pass one record per (split seed, seed)")
    by_run = {r.run: r for r in baseline}
    missing = sorted(r.run for r in remedy if r.run not in by_run)
    if missing:
        raise ValueError(f"no baseline record for the paired run(s) {missing} (split seed, seed)")
    pairs = sorted(((by_run[r.run], r) for r in remedy), key=lambda p: p[1].run)
    protocols = {b.protocol for pair in pairs for b in pair}
    tests = {(b.split_seed, b.test_fingerprint) for pair in pairs for b in pair}
    if len(protocols) > 1 or len(tests) != len({s for s, _ in tests}):
        raise ValueError(f"{remedy[0].label} and {baseline[0].label} were made under different protocols or test sets "
                         "and cannot be paired")  # fmt: skip
    return pairs


def paired_differences(baseline: Sequence[Record], remedy: Sequence[Record], metric: str = "AP") -> list[float]:
    """Test AP (or another of METRICS) of the remedy minus the baseline's, per paired run."""
    score = METRICS[metric][0]
    return [score(r.test_labels, r.trained.test_scores) - score(b.test_labels, b.trained.test_scores)
            for b, r in paired(baseline, remedy)]  # fmt: skip


def _split_means(pairs: Sequence[tuple[Record, Record]], values: Sequence[float]) -> dict[int, float]:
    """Mean of per-run values within each split seed."""
    by_split: dict[int, list[float]] = {}
    for (b, _), v in zip(pairs, values):
        by_split.setdefault(b.split_seed, []).append(v)
    return {s: float(np.mean(v)) for s, v in sorted(by_split.items())}


def bootstrap_differences(pairs: Sequence[tuple[Record, Record]], n_boot: int = 2000, seed: int = 0, metric: str = "AP") -> np.ndarray:
    """Replicates of the mean AP (or other metric's) difference: split seeds resampled, and within each its test images (per class, the
    same images for every seed of the split), its seeds averaged."""
    rows = METRICS[metric][1]
    rng = np.random.default_rng(seed)
    splits = sorted({b.split_seed for b, _ in pairs})
    per_split = np.empty((n_boot, len(splits)))
    for k, s in enumerate(splits):
        members = [(b, r) for b, r in pairs if b.split_seed == s]
        labels = members[0][0].test_labels
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        idx = np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)
        resampled = labels[idx]
        per_split[:, k] = np.mean([rows(resampled, r.trained.test_scores[idx]) - rows(resampled, b.trained.test_scores[idx])
                                   for b, r in members], axis=0)  # fmt: skip
    picks = rng.integers(0, len(splits), (n_boot, len(splits)))
    return np.take_along_axis(per_split, picks, axis=1).mean(axis=1)


def compare(baseline: Sequence[Record], remedy: Sequence[Record], name: str, n_boot: int = 2000, seed: int = 0,
            metric: str = "AP") -> Comparison:
    """The remedy's paired comparison with the baseline in test AP (or another of METRICS); its verdict comes from
    `holm`, across remedies."""
    from scipy import stats

    pairs = paired(baseline, remedy)
    diffs = np.array(paired_differences(baseline, remedy, metric))
    n = len(pairs)
    improvement = float(np.mean((diffs > 0) + 0.5 * (diffs == 0))) if n else float("nan")
    by_split = _split_means(pairs, diffs)
    s = len(by_split)
    mean = float(np.mean(list(by_split.values()))) if s else float("nan")
    nan = float("nan")
    if s < MIN_SPLITS:
        return Comparison(name, n, s, mean, nan, nan, nan, improvement, verdict=TOO_FEW, metric=metric)
    se = float(np.std(bootstrap_differences(pairs, n_boot, seed, metric), ddof=1) * np.sqrt(s / (s - 1)))
    if se == 0.0:  # the same difference in every run and every resample: none (p = 1), or one beyond any doubt
        return Comparison(name, n, s, mean, mean, mean, 1.0 if mean == 0.0 else 0.0, improvement, metric=metric)
    half = float(stats.t.ppf(1 - ALPHA / 2, s - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, s - 1))
    return Comparison(name, n, s, mean, mean - half, mean + half, p, improvement, metric=metric)


def holm(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm's step-down correction across the remedies compared: adjusted p-values and the verdict of each."""
    judged = [c for c in comparisons if c.judged]
    order = sorted(range(len(judged)), key=lambda i: judged[i].p_value)
    adjusted, running = {}, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(judged) - rank) * judged[i].p_value))
        adjusted[i] = running
    result = {id(c): replace(c, verdict=TOO_FEW) for c in comparisons}
    for i, c in enumerate(judged):
        verdict = NO_DIFFERENCE if adjusted[i] >= alpha else (BETTER if c.difference > 0 else WORSE)
        result[id(c)] = replace(c, p_holm=adjusted[i], verdict=verdict)
    return [result[id(c)] for c in comparisons]


def comparison_table(comparisons: Sequence[Comparison]) -> object:
    """The comparisons as a table (pandas DataFrame): difference, interval, improvement share, Holm p and verdict."""
    import pandas as pd

    rows = [{"remedy": c.remedy, "paired runs": c.runs, "AP difference": signed(c.difference),
             "95 % interval (before correction)": f"{signed(c.low)} to {signed(c.high)}" if c.judged else "n/a",
             "higher in": f"{c.wins} of {c.runs}" if c.runs else "n/a",
             "Holm p": f"{c.p_holm:.3f}" if c.judged and c.verdict != PENDING else "n/a",
             "verdict": c.verdict} for c in comparisons]  # fmt: skip
    return pd.DataFrame(rows).set_index("remedy")
