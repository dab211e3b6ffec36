"""Comparing each remedy with the baseline: paired runs, a two-level bootstrap interval, the probability of
improvement, and Holm's correction across remedies.

A paired run is one split seed and one seed: the remedy and the baseline trained on the same split from the same
initial weights, scored on the same test images. For each remedy the bootstrap resamples paired runs and, within
them, test images (positives and negatives separately, the same images for every run of one split), 2,000 times;
the spread of the mean difference in average precision is a standard error that holds both the run-to-run noise
and the test set's own. With the handful of runs a study affords, a percentile interval of that bootstrap is far
too narrow (with three runs it excludes zero in about one null comparison in six), so the interval is the mean
difference ± Student's t (runs − 1 degrees of freedom) times the standard error, itself scaled by n/(n−1) for the
run level's small-sample bias; tests/test_stats.py checks that this stays at or under the nominal error rate.

scipy.stats.bootstrap resamples a single level, so the two-level resampling is written here; scipy provides the t
distribution, and Holm's step-down (not in scipy) is a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .metrics import average_precision, average_precision_rows
from .tasks import Record

MIN_RUNS = 3  # fewer paired runs cannot separate a remedy from training noise
ALPHA = 0.05
BETTER, WORSE, NO_DIFFERENCE, TOO_FEW = "better than the baseline", "worse than the baseline", "no difference shown", "too few runs to judge"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, TOO_FEW)


@dataclass(frozen=True)
class Comparison:
    """A remedy against the baseline over paired runs: mean difference in test AP, its 95 % interval and the verdict."""

    remedy: str
    runs: int
    difference: float  # mean over paired runs of AP(remedy) - AP(baseline)
    low: float
    high: float
    p_value: float
    improvement: float  # share of paired runs in which the remedy's AP is higher (ties count half)
    p_holm: float = float("nan")
    verdict: str = TOO_FEW

    @property
    def wins(self) -> str:
        """In how many paired runs the remedy's AP is higher (a tie counts half)."""
        return f"{self.improvement * self.runs:g}"

    def sentence(self) -> str:
        """The comparison in words, numbers included; nothing it says goes beyond the interval and Holm's correction."""
        if self.runs < MIN_RUNS:
            return f"{self.remedy}: {TOO_FEW} ({self.runs} paired run{'s' * (self.runs != 1)}; at least {MIN_RUNS} are needed)."
        verdict = f"{NO_DIFFERENCE} (this study cannot tell it from the baseline)" if self.verdict == NO_DIFFERENCE else self.verdict
        return (f"{self.remedy}: {self.difference:+.3f} AP (95 % interval {self.low:+.3f} to {self.high:+.3f}), higher in "
                f"{self.wins} of {self.runs} paired runs; Holm-adjusted p = {self.p_holm:.3f}: {verdict}.")  # fmt: skip


def paired(baseline: Sequence[Record], remedy: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair each remedy record with the baseline record of the same split seed and seed; both must share the protocol
    and the test images."""
    by_run = {r.run: r for r in baseline}
    pairs = []
    for r in remedy:
        b = by_run.get(r.run)
        if b is None:
            continue
        if b.protocol != r.protocol or b.test_fingerprint != r.test_fingerprint:
            raise ValueError(f"{r.label} and {b.label} (split {r.split_seed}, seed {r.seed}) were made under different "
                             "protocols or test sets and cannot be paired")  # fmt: skip
        pairs.append((b, r))
    return sorted(pairs, key=lambda p: p[1].run)


def paired_differences(baseline: Sequence[Record], remedy: Sequence[Record]) -> list[float]:
    """Test AP of the remedy minus the baseline's, per paired run."""
    return [average_precision(r.test_labels, r.trained.test_scores) - average_precision(b.test_labels, b.trained.test_scores)
            for b, r in paired(baseline, remedy)]  # fmt: skip


def bootstrap_differences(pairs: Sequence[tuple[Record, Record]], n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Replicates of the mean AP difference: paired runs resampled, and within them test images, per class.

    Runs of one split share one resample of its test images, since they were scored on the same images.
    """
    rng = np.random.default_rng(seed)
    splits = sorted({b.split_seed for b, _ in pairs})
    index = {}
    for s in splits:
        labels = next(b.test_labels for b, _ in pairs if b.split_seed == s)
        pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        index[s] = np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)
    per_run = np.empty((n_boot, len(pairs)))
    for k, (b, r) in enumerate(pairs):
        idx = index[b.split_seed]
        labels = b.test_labels[idx]
        per_run[:, k] = average_precision_rows(labels, r.trained.test_scores[idx]) - average_precision_rows(labels, b.trained.test_scores[idx])
    picks = rng.integers(0, len(pairs), (n_boot, len(pairs)))
    return np.take_along_axis(per_run, picks, axis=1).mean(axis=1)


def compare(baseline: Sequence[Record], remedy: Sequence[Record], name: str, n_boot: int = 2000, seed: int = 0) -> Comparison:
    """The remedy's paired comparison with the baseline (verdict before Holm's correction: see `holm`)."""
    from scipy import stats

    pairs = paired(baseline, remedy)
    n = len(pairs)
    diffs = np.array(paired_differences(baseline, remedy))
    improvement = float(np.mean((diffs > 0) + 0.5 * (diffs == 0))) if n else float("nan")
    if n < MIN_RUNS:
        mean = float(diffs.mean()) if n else float("nan")
        return Comparison(name, n, mean, float("nan"), float("nan"), float("nan"), improvement)
    mean = float(diffs.mean())
    se = float(np.std(bootstrap_differences(pairs, n_boot, seed), ddof=1) * np.sqrt(n / (n - 1)))
    if se == 0.0:  # identical scores in every run and resample: no evidence of any difference
        return Comparison(name, n, mean, mean, mean, 1.0, improvement, verdict=NO_DIFFERENCE)
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Comparison(name, n, mean, mean - half, mean + half, p, improvement, verdict=NO_DIFFERENCE)


def holm(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm's step-down correction across the remedies: adjusted p-values and the verdict of each."""
    judged = [c for c in comparisons if c.runs >= MIN_RUNS]
    order = sorted(range(len(judged)), key=lambda i: judged[i].p_value)
    adjusted, running = {}, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(judged) - rank) * judged[i].p_value))
        adjusted[i] = running
    result = {id(c): c for c in comparisons}
    for i, c in enumerate(judged):
        verdict = NO_DIFFERENCE if adjusted[i] >= alpha else (BETTER if c.difference > 0 else WORSE)
        result[id(c)] = replace(c, p_holm=adjusted[i], verdict=verdict)
    return [result[id(c)] for c in comparisons]


def comparison_table(comparisons: Sequence[Comparison]) -> object:
    """The comparisons as a table (pandas DataFrame): difference, interval, improvement share, Holm p and verdict."""
    import pandas as pd

    rows = [{"remedy": c.remedy, "paired runs": c.runs, "AP difference": f"{c.difference:+.3f}",
             "95 % interval": f"{c.low:+.3f} to {c.high:+.3f}" if c.runs >= MIN_RUNS else "n/a",
             "higher in": f"{c.wins} of {c.runs}" if c.runs else "n/a",
             "Holm p": f"{c.p_holm:.3f}" if c.runs >= MIN_RUNS else "n/a", "verdict": c.verdict} for c in comparisons]  # fmt: skip
    return pd.DataFrame(rows).set_index("remedy")
