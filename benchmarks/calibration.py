"""How often the study's comparison calls a difference real when there is none, next to the bootstrap's percentile
interval: simulated null studies of exchangeable models.

    python benchmarks/calibration.py                     # 400 studies per setting, a few minutes on 2 cores

Each simulated split draws a test set (1,000 negatives, 100 positives at the deployment ratio), an image difficulty
that both models share and, in the designs with a split effect, a tilt that favours one model on that split only
(as a remedy can suit one cut of the data better than another); each paired run adds two models of the same
expected quality with their own training noise. In the designs with a photo effect, each recipe also has its own
affinity for every photo (a recipe-by-photo interaction, exchangeable between the two recipes, so that a difference
on one test set is test-set noise); with "test sets from one pool", the splits' test sets overlap as the default
split counts make them overlap. A method's false-positive rate is the share of null studies whose 95 % interval
excludes zero.
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


def _population(rng: np.random.Generator, negatives: int, positives: int, image_effect: float) -> dict[str, np.ndarray]:
    """Photos of the simulated world: labels, a difficulty both recipes share, and each recipe's own affinity for every
    photo (exchangeable between the recipes, so neither is better on average over all photos)."""
    labels = np.r_[np.zeros(negatives, int), np.ones(positives, int)]
    n = len(labels)
    return {"labels": labels, "difficulty": rng.normal(0, 1, n), "baseline": rng.normal(0, image_effect, n),
            "same recipe": rng.normal(0, image_effect, n)}  # fmt: skip


def null_study(rng: np.random.Generator, splits: int, seeds: int, run_noise: float, split_effect: float, image_effect: float = 0.0,
               shared_pool: bool = False) -> tuple[list[Record], list[Record]]:  # fmt: skip
    """Baseline and 'remedy' records of one simulated study in which both are the same recipe in distribution. With
    `shared_pool`, every split's test set is drawn from one finite pool of photos with the overlap the default split
    counts give (after the validation block: 3,000 of 5,000 cats and 300 of 1,900 dogs per split); otherwise each
    split has photos of its own."""
    pool = _population(rng, 1667, 633, image_effect) if shared_pool else None
    base, other = [], []
    for split in range(splits):
        if pool is None:
            test = _population(rng, 1000, 100, image_effect)
        else:
            pick = np.r_[rng.choice(1667, 1000, replace=False), 1667 + rng.choice(633, 100, replace=False)]
            test = {k: v[pick] for k, v in pool.items()}
        labels = test["labels"]
        tilt = rng.normal(0, split_effect)
        for seed in range(seeds):
            for records, name in ((base, "baseline"), (other, "same recipe")):
                quality = 1.0 + rng.normal(0, run_noise) + (tilt if name != "baseline" else 0.0)
                logits = quality * labels + test["difficulty"] + test[name] + rng.normal(0, 0.7, len(labels))
                scores = 1 / (1 + np.exp(-logits))
                trained = Trained(1, 1, 35, 0.1, {"loss": [1.0], "val_ap": [0.5]}, scores, scores)
                task = Task(Recipe(name), split, seed)
                records.append(Record(task.key(PROTOCOL), task.recipe, split, seed, PROTOCOL, trained, labels, labels, f"split {split}"))
    return base, other


def rates(studies: int, n_boot: int, splits: int, seeds: int, run_noise: float, split_effect: float, image_effect: float,
          shared_pool: bool) -> dict[str, float]:  # fmt: skip
    """False-positive rates of the study's interval and of the bootstrap's percentile interval."""
    rng = np.random.default_rng(0)
    t_interval = percentile = 0
    for i in range(studies):
        base, other = null_study(rng, splits, seeds, run_noise, split_effect, image_effect, shared_pool)
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
    p.add_argument("--image-effect", type=float, default=0.5,
                   help="spread of each recipe's own affinity for a photo, in the designs that have one (test-set noise)")
    p.add_argument("--json", default="runs/calibration.json")
    args = p.parse_args(argv)
    e, u = args.split_effect, args.image_effect
    designs = [(3, 1, 0.0, 0.0, False), (5, 1, 0.0, 0.0, False), (3, 2, 0.0, 0.0, False), (3, 2, e, 0.0, False), (5, 2, e, 0.0, False),
               (3, 1, 0.0, u, False), (3, 1, 0.0, u, True), (5, 1, 0.0, u, True), (3, 1, e, u, True)]  # fmt: skip
    rows = {f"{splits} splits x {seeds} seed(s){', split effect' if effect else ''}{', photo effect' if image else ''}"
            f"{', test sets from one pool' if pool else ''}": rates(args.studies, args.n_boot, splits, seeds, args.run_noise, effect, image, pool)
            for splits, seeds, effect, image, pool in designs}  # fmt: skip
    print(f"| design ({args.studies} null studies each) | study's interval (t over the two-level bootstrap) | bootstrap percentile |")
    print("| --- | --- | --- |")
    for design, r in rows.items():
        print(f"| {design} | {r['t_interval']:.1%} | {r['percentile']:.1%} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"arguments": vars(args), "rates": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
