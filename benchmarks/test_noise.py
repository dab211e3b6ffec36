"""How much of each comparison's standard error is the shared test block's own noise, next to the spread between
splits: is the test block large enough?

    python benchmarks/test_noise.py runs/notebooks          # any run folder the summary can read

For each remedy at its frozen setting, and each reference, the comparison's standard error in its two parts
(`stats.estimate`): between splits (training and training-pool noise, and the part of the test noise that differs
between runs), and the test images every run shares (the covariance between splits' differences under one resample
of the block). The image part does not shrink with more splits; it should stay well below the split part at the
number of splits a study trains.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.stats import compare  # noqa: E402
from unbalanced.study import read_run  # noqa: E402


def main(argv: list[str]) -> int:
    """Print a markdown table: per comparison, the standard error's two parts and the SD of a paired difference."""
    run = read_run(argv[0] if argv else "runs/notebooks")
    test = run.baseline[0].test_labels
    print(f"test block: {len(test):,} images, {int(test.sum())} positive; {len(run.baseline)} paired runs\n")
    print("| compared with the baseline | SD of a paired difference between splits | SE between splits | SE of the shared test images |")
    print("| --- | --- | --- | --- |")
    for name, chosen in {**run.chosen, **run.references}.items():
        c = compare(run.baseline, chosen, name)
        split_se = float(np.sqrt(max(c.se**2 - c.se_image**2, 0.0)))
        print(f"| {name} | {split_se * np.sqrt(c.splits):.4f} | {split_se:.4f} | {c.se_image:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
