"""How often the study's comparison calls a difference real when there is none, next to the bootstrap's percentile
interval: simulated null studies of exchangeable models.

    python benchmarks/calibration.py                     # 400 studies per setting, a few minutes on 2 cores

Each simulated split draws a test set (1,000 negatives, 100 positives at the deployment ratio), an image difficulty
that both models share and, in the designs with a split effect, a tilt that favours one model on that split only
(as a remedy can suit one cut of the data better than another); each paired run adds two models of the same
expected quality with their own training noise. A method's false-positive rate is the share of null studies whose
95 % interval excludes zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.stats import bootstrap_differences, compare, paired  # noqa: E402
from unbalanced.tasks import Protocol, Record, Task  # noqa: E402
from unbalanced.training import Recipe, Trained  # noqa: E402

PROTOCOL = Protocol("/simulated", "-", "dogs", 32, (1000, 1000, 1000), (100, 100, 100), 1000, 32, 8, 3, 35, True, 0, "-")


def null_study(rng: np.random.Generator, splits: int, seeds: int, run_noise: float, split_effect: float) -> tuple[list[Record], list[Record]]:
    """Baseline and 'remedy' records of one simulated study in which both are the same recipe in distribution."""
    base, other = [], []
    for split in range(splits):
        labels = np.r_[np.zeros(1000, int), np.ones(100, int)]
        difficulty = rng.normal(0, 1, len(labels))
        tilt = rng.normal(0, split_effect)
        for seed in range(seeds):
            for records, name in ((base, "baseline"), (other, "same recipe")):
                quality = 1.0 + rng.normal(0, run_noise) + (tilt if name != "baseline" else 0.0)
                scores = 1 / (1 + np.exp(-(quality * labels + difficulty + rng.normal(0, 0.7, len(labels)))))
                trained = Trained(1, 1, 35, 0.1, {"loss": [1.0], "val_ap": [0.5]}, scores, scores)
                task = Task(Recipe(name), split, seed)
                records.append(Record(task.key(PROTOCOL), task.recipe, split, seed, PROTOCOL, trained, labels, labels, f"split {split}"))
    return base, other


def rates(studies: int, splits: int, seeds: int, run_noise: float, split_effect: float, n_boot: int) -> dict[str, float]:
    """False-positive rates of the study's interval and of the bootstrap's percentile interval."""
    rng = np.random.default_rng(0)
    t_interval = percentile = 0
    for i in range(studies):
        base, other = null_study(rng, splits, seeds, run_noise, split_effect)
        c = compare(base, other, "null", n_boot=n_boot, seed=i)
        t_interval += c.low > 0 or c.high < 0
        low, high = np.percentile(bootstrap_differences(paired(base, other), n_boot, seed=i), [2.5, 97.5])
        percentile += low > 0 or high < 0
    return {"t_interval": t_interval / studies, "percentile": percentile / studies}


def main(argv: list[str] | None = None) -> int:
    """Print a markdown table of false-positive rates and write them to JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=int, default=400)
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--run-noise", type=float, default=0.15, help="training noise of a model's quality (AP spread about 0.04)")
    p.add_argument("--split-effect", type=float, default=0.15, help="spread of the split-level tilt in the designs that have one")
    p.add_argument("--json", default="runs/calibration.json")
    args = p.parse_args(argv)
    designs = [(3, 1, 0.0), (5, 1, 0.0), (3, 2, 0.0), (3, 2, args.split_effect), (5, 2, args.split_effect)]
    rows = {f"{splits} splits x {seeds} seed(s){', split effect' if effect else ''}":
            rates(args.studies, splits, seeds, args.run_noise, effect, args.n_boot) for splits, seeds, effect in designs}  # fmt: skip
    print(f"| design ({args.studies} null studies each) | study's interval (t over the two-level bootstrap) | bootstrap percentile |")
    print("| --- | --- | --- |")
    for design, r in rows.items():
        print(f"| {design} | {r['t_interval']:.1%} | {r['percentile']:.1%} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"arguments": vars(args), "rates": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
