"""Is the comparison calibrated? Simulated studies on one fixed test block: how often it calls a null difference
real, and how often it finds a planted one against the power it predicts.

    python benchmarks/calibration.py                    # 1,000 studies per design, about 40 minutes on one core
    python benchmarks/calibration.py --studies 200      # a quicker look

Each simulated study draws a world of photos: a test block of 3,000 negatives and 900 positives, scored at the
deployment prior of 1 : 10 (negatives weighted ×3, as the study scores its test block), a difficulty per photo that
every model shares, and each recipe's own affinity for every photo (exchangeable between the two recipes, so a
difference on one test block is the test set's noise, shared by every run of the study). Each split trains both
recipes: a quality drawn around the recipe's (training and pool noise) and its own noise per photo. The world is
tuned to the study's measured figures (docs/protocol.md): a baseline test AP near 0.24, a spread of paired differences
between splits near 0.035, and a test-image standard error of one run's difference near 0.015 (a little above the
0.010 measured, so the image term is tested harder than the study needs).

For each design the null studies give the false-positive rate at a nominal 5 % (it must lie within 2.5-7.5 %) and the
true standard error of the mean difference (its spread over the studies); a remedy planted 0.03 and 0.05 AP better
(a quality shift found by bisection on large simulated test sets) gives the share of studies that call it
significant ("found"), set against the analytic power of the noncentral t at the planted design's true standard error
(the spread of its mean difference over the studies) and median degrees of freedom, and against the power each study
states from its own estimated standard error ("stated", averaged). The same random draws serve the null and the
planted remedies of a study, so the three differ only in the planted shift.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.metrics import ap_rows, deployment_weights  # noqa: E402
from unbalanced.stats import ALPHA, Comparison, compare, power_of  # noqa: E402
from unbalanced.tasks import Protocol, Record, Task  # noqa: E402
from unbalanced.training import Recipe, Trained  # noqa: E402

PROTOCOL = Protocol("/simulated", "-", "dogs", 32, (1000, 1000, 3000), (100, 100, 900), 1000, 32, 8, 3, 35, True, 0, "-")
NEGATIVES, POSITIVES = 3000, 900
VAL_LABELS = np.r_[np.zeros(10, int), np.ones(1, int)]  # only its share matters: the deployment prior, 1 : 10
LABELS = np.r_[np.zeros(NEGATIVES, int), np.ones(POSITIVES, int)]


@dataclass(frozen=True)
class World:
    """The simulated study's noise: the recipes' separation of the classes, its spread between trainings, a split-level
    tilt shared by a split's seeds, each recipe's affinity per photo, and each training's own noise per photo."""

    strength: float = 1.15
    run_noise: float = 0.12
    split_tilt: float = 0.0
    photo_effect: float = 0.5
    image_noise: float = 0.7

    def scores(self, rng: np.random.Generator, base: dict[str, np.ndarray], arm: str, quality: float) -> np.ndarray:
        """One training's test scores."""
        logits = quality * LABELS + base["difficulty"] + base[arm] + rng.normal(0, self.image_noise, len(LABELS))
        return 1 / (1 + np.exp(-logits))


def record(name: str, split: int, seed: int, scores: np.ndarray) -> Record:
    """A record of simulated test scores on the shared test block."""
    trained = Trained(1, 1, 35, 0.1, {"loss": [1.0], "val_ap": [0.5]}, VAL_LABELS * 0.5, scores)
    task = Task(Recipe(name), split, seed)
    return Record(task.key(PROTOCOL), task.recipe, split, seed, PROTOCOL, trained, VAL_LABELS, LABELS, "one block")


def study(rng: np.random.Generator, world: World, splits: int, seeds: int, shifts: dict[str, float]) -> dict[str, list[Record]]:
    """One simulated study: the baseline and, per name in `shifts`, a remedy whose quality is shifted by that much (0:
    the same recipe in distribution), all drawn from the same random numbers."""
    photos = {"difficulty": rng.normal(0, 1, len(LABELS)), "baseline": rng.normal(0, world.photo_effect, len(LABELS)),
              "remedy": rng.normal(0, world.photo_effect, len(LABELS))}  # fmt: skip
    out: dict[str, list[Record]] = {"baseline": [], **{name: [] for name in shifts}}
    for split in range(splits):
        tilt = rng.normal(0, world.split_tilt) if world.split_tilt else 0.0
        for seed in range(seeds):
            out["baseline"].append(record("baseline", split, seed, world.scores(rng, photos, "baseline", world.strength + rng.normal(0, world.run_noise))))
            quality, state = world.strength + tilt + rng.normal(0, world.run_noise), rng.bit_generator.state
            for name, shift in shifts.items():  # the same noise for each planted shift
                rng.bit_generator.state = state
                out[name].append(record(name, split, seed, world.scores(rng, photos, "remedy", quality + shift)))
    return out


def expected_ap(world: World, shift: float, draws: int = 200, seed: int = 99) -> float:
    """The mean test AP of the remedy shifted by `shift` minus the baseline's, over many simulated trainings and
    blocks, each arm with its own training noise as in a study."""
    rng = np.random.default_rng(seed)
    w = deployment_weights(LABELS, VAL_LABELS)[None, :]
    total = 0.0
    for _ in range(draws):
        photos = {"difficulty": rng.normal(0, 1, len(LABELS)), "baseline": rng.normal(0, world.photo_effect, len(LABELS)),
                  "remedy": rng.normal(0, world.photo_effect, len(LABELS))}  # fmt: skip
        base, remedy = (world.strength + rng.normal(0, world.run_noise) for _ in range(2))
        total += ap_rows(LABELS, world.scores(rng, photos, "remedy", remedy + shift), w)[0] - ap_rows(LABELS, world.scores(rng, photos, "baseline", base), w)[0]
    return total / draws


def shift_for(world: World, effect: float) -> float:
    """The quality shift whose expected AP gain is `effect`: bisection (the gain rises with the shift), on the same
    simulated draws at every step so that the steps compare like with like."""
    low, high = 0.0, 2.0
    for _ in range(14):
        mid = (low + high) / 2
        low, high = (mid, high) if expected_ap(world, mid) < effect else (low, mid)
    return (low + high) / 2


def run_design(world: World, splits: int, seeds: int, studies: int, n_boot: int, effects: tuple[float, ...], seed: int) -> dict:
    """Null and planted studies of one design: error rate, true SE, and observed against analytic power per effect."""
    shifts = {"null": 0.0, **{f"+{e:.2f}": shift_for(world, e) for e in effects}}
    rng = np.random.default_rng(seed)
    found = {name: 0 for name in shifts}
    means: dict[str, list[float]] = {name: [] for name in shifts}
    dfs: dict[str, list[float]] = {name: [] for name in shifts}
    stated: dict[str, list[Comparison]] = {name: [] for name in shifts}
    for i in range(studies):
        records = study(rng, world, splits, seeds, shifts)
        for name in shifts:
            c = compare(records["baseline"], records[name], name, n_boot=n_boot, seed=i)
            found[name] += c.p_value < ALPHA
            means[name].append(c.difference)
            dfs[name].append(c.df)
            stated[name].append(c)
    row = {"splits": splits, "seeds": seeds, "studies": studies, "false positives": found["null"] / studies,
           "true SE": float(np.std(means["null"], ddof=1)), "median df": float(np.median(dfs["null"]))}  # fmt: skip
    for e in effects:
        name = f"+{e:.2f}"
        true_effect, true_se = float(np.mean(means[name])), float(np.std(means[name], ddof=1))
        row[f"power {name}"] = {
            "observed": found[name] / studies,
            "analytic": power_of(true_effect, true_se, float(np.median(dfs[name]))),  # from the design's true spread
            "stated": float(np.mean([power_of(true_effect, c.se, c.df) for c in stated[name]])),  # what each study says
            "detectable at most the effect": float(np.mean([c.detectable <= true_effect for c in stated[name]])),
            "true effect": true_effect,
        }
    return row


DESIGNS = {  # name: (world, splits, seeds)
    "fixed block, 3 splits": (World(), 3, 1),
    "fixed block, 10 splits": (World(), 10, 1),
    "fixed block, 30 splits": (World(), 30, 1),
    "fixed block, 10 splits x 2 seeds, split tilt": (World(split_tilt=0.1), 10, 2),
    "fixed block, 10 splits, no photo effect": (World(photo_effect=0.0), 10, 1),
    "fixed block, 10 splits, strong photo effect": (World(photo_effect=1.0), 10, 1),
}


def main(argv: list[str] | None = None) -> int:
    """Run every design, print a markdown table, and write the figures to JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=int, default=1000)
    p.add_argument("--n-boot", type=int, default=200, help="resamples of the test block per comparison")
    p.add_argument("--designs", nargs="*", default=list(DESIGNS), help="names of DESIGNS to run (default: all)")
    p.add_argument("--json", default="runs/calibration.json")
    args = p.parse_args(argv)
    rows = {}
    print(f"| design ({args.studies} studies each) | false positives (nominal 5 %) | true SE | median df "
          "| +0.03 AP (realised): found / analytic / stated | +0.05 AP (realised): found / analytic / stated |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for k, name in enumerate(args.designs):
        world, splits, seeds = DESIGNS[name]
        start = time.perf_counter()
        r = rows[name] = run_design(world, splits, seeds, args.studies, args.n_boot, (0.03, 0.05), seed=k)
        power = [r[f"power +{e:.2f}"] for e in (0.03, 0.05)]
        cells = [f"({x['true effect']:.3f}): {x['observed']:.1%} / {x['analytic']:.1%} / {x['stated']:.1%}" for x in power]
        print(f"| {name} | {r['false positives']:.1%} | {r['true SE']:.4f} | {r['median df']:.1f} | {cells[0]} | {cells[1]} |", flush=True)
        print(f"  ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"arguments": vars(args), "designs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
