"""Cutting the usable files into validation, test and nested training sets: one fixed held-out block, and one
training pool per split seed.

For each class the files are shuffled once with a fixed seed (HELD_OUT_SEED): the validation block and then the test
block are taken from the front, the same under every split seed, so every run of a study is chosen on the same
validation photos and scored on the same test photos, and no photo of either is ever trained on. The rest is the
class's training pool, shuffled with the split seed, and every
training set is a prefix of each pool: the unbalanced set, the size-matched balanced control and the "more
positives" reference share their first images (nested), and so do the data-size and imbalance-ratio sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .storage import DataError

UNBALANCED = "unbalanced"  # the training set at the deployment ratio: what the remedies start from
CONTROL = "balanced, same size"  # as many images as the unbalanced set, half of them positive: balance alone
MORE_POSITIVES = "more positives"  # the unbalanced set's negatives with more positives: collecting data, not a remedy
TRAINING_SETS = (UNBALANCED, CONTROL, MORE_POSITIVES)
HELD_OUT_SEED = 20261129  # fixes the validation and test blocks, the same under every split seed


@dataclass(frozen=True)
class Split:
    """Image files of one split and their labels (1 = positive class)."""

    files: tuple[str, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.files)

    @property
    def positives(self) -> int:
        """Number of positive-class files in the split."""
        return int(self.labels.sum())


@dataclass(frozen=True)
class SplitCounts:
    """How many images each split takes: (train, validation, test) per class, and the reference's positives."""

    negatives: tuple[int, int, int]
    positives: tuple[int, int, int]
    more_positives: int

    @classmethod
    def of(cls, negative_split_counts: Sequence[int], positive_split_counts: Sequence[int], more_positives: int) -> SplitCounts:
        """Check and hold the notebooks' split parameters."""
        for name, counts in (("negative_split_counts", negative_split_counts), ("positive_split_counts", positive_split_counts)):
            if len(counts) != 3 or any(int(c) != c or c < 0 for c in counts):
                raise DataError(f"{name}={list(counts)} must be three whole numbers: [train, validation, test]")
            if counts[1] < 1 or counts[2] < 1:
                raise DataError(f"{name}={list(counts)}: validation and test need images of both classes")
        if negative_split_counts[0] < 1 or positive_split_counts[0] < 1:
            raise DataError("the unbalanced training set needs images of both classes")
        if more_positives < positive_split_counts[0]:
            raise DataError(f"more_positives={more_positives} must be at least the training positives ({positive_split_counts[0]})")
        return cls(tuple(map(int, negative_split_counts)), tuple(map(int, positive_split_counts)), int(more_positives))  # type: ignore[arg-type]

    @property
    def control_size(self) -> int:
        """Images per class in the balanced control: half the unbalanced set's size."""
        return (self.negatives[0] + self.positives[0]) // 2

    def train_counts(self, name: str) -> tuple[int, int]:
        """(negatives, positives) of a named training set."""
        if name == UNBALANCED:
            return self.negatives[0], self.positives[0]
        if name == CONTROL:
            return self.control_size, self.control_size
        if name == MORE_POSITIVES:
            return self.negatives[0], self.more_positives
        raise DataError(f"unknown training set {name!r}; use one of {TRAINING_SETS}")

    def pool_needs(self) -> tuple[int, int]:
        """The training pool each class must hold for the named training sets."""
        return max(self.negatives[0], self.control_size), max(self.positives[0], self.control_size, self.more_positives)


def ratio_sizes(counts: SplitCounts, ratio: float) -> tuple[int, int]:
    """The imbalance-ratio sweep's training set: the unbalanced set's negatives with one positive per `ratio` of them."""
    return counts.negatives[0], max(1, round(counts.negatives[0] / ratio))


def same_ratio_sizes(counts: SplitCounts, negatives: int) -> tuple[int, int]:
    """The data-size sweep's training set: `negatives` with positives at the unbalanced set's ratio."""
    return negatives, max(1, round(negatives * counts.positives[0] / counts.negatives[0]))


@dataclass(frozen=True)
class SplitPlan:
    """One cut of the data: validation and test sets, and each class's training pool in shuffled order."""

    split_seed: int
    val: Split
    test: Split
    negative_pool: tuple[str, ...]
    positive_pool: tuple[str, ...]

    def training_set(self, negatives: int, positives: int) -> Split:
        """The first `negatives` and `positives` of the pools: training sets of different sizes nest."""
        for n, pool, kind in ((negatives, self.negative_pool, "negative"), (positives, self.positive_pool, "positive")):
            if n > len(pool) or n < 0:
                raise DataError(f"a training set of {n} {kind} images was asked for, but the pool holds {len(pool)} "
                                "after validation and test; lower the counts or add images")  # fmt: skip
        files = self.negative_pool[:negatives] + self.positive_pool[:positives]
        return Split(files, np.r_[np.zeros(negatives, np.int32), np.ones(positives, np.int32)])


def cut_split(files_by_class: Mapping[str, Sequence[Path]], negative: str, positive: str, counts: SplitCounts, split_seed: int) -> SplitPlan:
    """Per class: the same validation and test blocks for every split seed, then the training pool from the rest,
    shuffled with the split seed."""
    parts: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for label, (name, (_, n_val, n_test), needed) in enumerate(
        ((negative, counts.negatives, counts.pool_needs()[0]), (positive, counts.positives, counts.pool_needs()[1]))
    ):
        if name not in files_by_class:
            raise DataError(f"class {name!r} is not a class folder: {sorted(files_by_class)}")
        available = sorted(map(str, files_by_class[name]))
        if n_val + n_test + needed > len(available):
            raise DataError(
                f"class {name!r}: validation {n_val}, test {n_test} and a training pool of {needed} need "
                f"{n_val + n_test + needed} files, but only {len(available)} usable ones were found; lower the split counts"
            )
        # One held-out block for every split seed: settings are chosen on validation predictions pooled across splits,
        # which must never include a test photo, and every paired difference is taken on the same test photos, so the
        # test set's noise is shared by all runs and counted once (stats.estimate).
        fixed = [available[i] for i in np.random.default_rng([HELD_OUT_SEED, label]).permutation(len(available))]
        rest = fixed[n_val + n_test :]
        pool = [rest[i] for i in np.random.default_rng([split_seed, label]).permutation(len(rest))]
        parts[name] = (fixed[:n_val], fixed[n_val : n_val + n_test], pool)

    def labelled(neg: list[str], pos: list[str]) -> Split:
        return Split(tuple(neg + pos), np.r_[np.zeros(len(neg), np.int32), np.ones(len(pos), np.int32)])

    (neg_val, neg_test, neg_pool), (pos_val, pos_test, pos_pool) = parts[negative], parts[positive]
    return SplitPlan(split_seed, labelled(neg_val, pos_val), labelled(neg_test, pos_test), tuple(neg_pool), tuple(pos_pool))


def split_table(plan: SplitPlan, counts: SplitCounts, negative: str, positive: str) -> Any:
    """A table (pandas DataFrame) of each split's negatives, positives and positive share, in percent."""
    import pandas as pd

    sizes = {name: counts.train_counts(name) for name in TRAINING_SETS}
    sizes |= {"validation": (len(plan.val) - plan.val.positives, plan.val.positives),
              "test": (len(plan.test) - plan.test.positives, plan.test.positives)}  # fmt: skip
    rows = [{"split": name, negative: n, positive: p, "total": n + p, "positive share": f"{100 * p / (n + p):.1f} %"}
            for name, (n, p) in sizes.items()]  # fmt: skip
    return pd.DataFrame(rows).set_index("split")
