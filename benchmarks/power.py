"""How many confirmation splits a study needs: the smallest number of splits whose detectable difference (80 % power,
Holm's first step over the remedies) reaches a target, for a spread of paired differences between splits and a
test-image standard error shared by every run.

    python benchmarks/power.py                                  # the table in docs/protocol.md
    python benchmarks/power.py --sd 0.04 --image-se 0.005       # one measured spread

The standard error of a mean over S splits is sqrt(sd^2 / S + image_se^2) with Welch-Satterthwaite degrees of freedom,
as unbalanced/stats.py computes it; the image term does not shrink with more splits, so a target below
(t + t_power) * image_se is out of reach at any number of splits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.stats import minimum_detectable  # noqa: E402


def detectable(splits: int, sd: float, image_se: float, family: int) -> float:
    """The detectable difference at `splits` splits."""
    a, b = sd**2 / splits, image_se**2
    df = (a + b) ** 2 / (a**2 / (splits - 1))
    return minimum_detectable(float(np.sqrt(a + b)), df, family)


def splits_needed(target: float, sd: float, image_se: float, family: int, most: int = 1000) -> int | None:
    """The fewest splits (3 or more) whose detectable difference is at most `target`; None if even `most` do not."""
    return next((s for s in range(3, most + 1) if detectable(s, sd, image_se, family) <= target), None)


def main(argv: list[str] | None = None) -> int:
    """Print a markdown table of splits needed for each target."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sd", type=float, nargs="*", default=[0.035, 0.04, 0.05, 0.07], help="SD of a paired AP difference between splits")
    p.add_argument("--image-se", type=float, nargs="*", default=[0.004, 0.0055, 0.008], help="shared test-image SE of a mean difference")
    p.add_argument("--targets", type=float, nargs="*", default=[0.03, 0.05])
    p.add_argument("--family", type=int, default=6, help="comparisons in the Holm family (the remedies)")
    args = p.parse_args(argv)
    print("| SD between splits | test-image SE | " + " | ".join(f"splits for {t:.2f} AP" for t in args.targets) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in args.targets) + " |")
    for sd in args.sd:
        for image_se in args.image_se:
            cells = [splits_needed(t, sd, image_se, args.family) for t in args.targets]
            print(f"| {sd:.3f} | {image_se:.4f} | " + " | ".join(str(c) if c else "out of reach" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
