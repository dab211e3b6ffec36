"""How much of a verdict's interval is the test set's own noise: per remedy, the spread of the paired AP difference
from resampling test images alone (runs fixed), against the spread between splits.

    python benchmarks/test_noise.py runs/notebooks          # any run folder the summary can read

For each remedy at its chosen setting and each paired run, 1,000 resamples of the test images (positives and
negatives separately) give the standard deviation of AP(remedy) − AP(baseline) due to the test set alone; the
standard deviation of the per-split mean differences is the spread the interval has to cover. The half-widths are
1.96 of those standard deviations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.metrics import average_precision_rows  # noqa: E402
from unbalanced.stats import paired, paired_differences  # noqa: E402
from unbalanced.study import read_run  # noqa: E402


def image_sd(base_scores: np.ndarray, remedy_scores: np.ndarray, labels: np.ndarray, n_boot: int, rng: np.random.Generator) -> float:
    """Standard deviation of the AP difference over resamples of the test images, per class."""
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    idx = np.concatenate([rng.choice(pos, (n_boot, len(pos))), rng.choice(neg, (n_boot, len(neg)))], axis=1)
    diff = average_precision_rows(labels[idx], remedy_scores[idx]) - average_precision_rows(labels[idx], base_scores[idx])
    return float(np.std(diff, ddof=1))


def main(argv: list[str]) -> int:
    """Print a markdown table: per remedy, the test-image half-width against the between-split half-width."""
    run = read_run(argv[0] if argv else "runs/notebooks")
    rng = np.random.default_rng(0)
    test = run.baseline[0].test_labels
    print(f"test set: {len(test):,} images, {int(test.sum())} positive; {len(run.baseline)} paired runs\n")
    print("| remedy | test images alone, per run (± 95 %) | between splits (± 95 %) |")
    print("| --- | --- | --- |")
    for name, chosen in {**run.chosen, **run.references}.items():
        pairs = paired(run.baseline, chosen)
        per_run = [image_sd(b.trained.test_scores, r.trained.test_scores, b.test_labels, 1000, rng) for b, r in pairs]
        diffs = paired_differences(run.baseline, chosen)
        print(f"| {name} | {1.96 * np.median(per_run):.3f} | {1.96 * np.std(diffs, ddof=1):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
