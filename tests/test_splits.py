"""Tests for unbalanced/splits.py: one validation block and one test block for every split seed, nested training sets, one
training pool per split seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unbalanced.splits import (CONTROL, MORE_POSITIVES, TRAINING_SETS, UNBALANCED, SplitCounts, cut_split, ratio_sizes,
                               same_ratio_sizes, split_table)  # fmt: skip
from unbalanced.storage import DataError


def _files(n_neg: int = 40, n_pos: int = 30) -> dict[str, list[Path]]:
    return {"cats": [Path(f"/d/train/cats/cat.{i}.jpg") for i in range(n_neg)],
            "dogs": [Path(f"/d/train/dogs/dog.{i}.jpg") for i in range(n_pos)]}  # fmt: skip


COUNTS = SplitCounts.of([10, 6, 8], [2, 3, 4], 12)


def test_validation_test_and_training_pools_are_disjoint_and_labelled_by_folder():
    plan = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=1)
    val, test = set(plan.val.files), set(plan.test.files)
    pools = set(plan.negative_pool) | set(plan.positive_pool)
    assert not val & test and not (val | test) & pools
    assert len(val | test | pools) == 70  # every file in exactly one place
    assert (len(plan.val), plan.val.positives, len(plan.test), plan.test.positives) == (9, 3, 12, 4)
    for split in (plan.val, plan.test, plan.training_set(10, 12)):
        assert [label == 1 for label in split.labels] == ["/dogs/" in f for f in split.files]


def test_training_sets_nest_the_unbalanced_set_inside_the_others():
    plan = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=2)
    sets = {name: set(plan.training_set(*COUNTS.train_counts(name)).files) for name in TRAINING_SETS}
    assert sets[UNBALANCED] < sets[MORE_POSITIVES]  # the same negatives, more positives
    unbalanced = plan.training_set(*COUNTS.train_counts(UNBALANCED))
    control = plan.training_set(*COUNTS.train_counts(CONTROL))
    assert len(control) == len(unbalanced) and control.positives == len(control) // 2  # size-matched and balanced
    assert {f for f in unbalanced.files if "/dogs/" in f} <= set(control.files)  # all of the baseline's positives
    control_cats = [f for f in control.files if "/cats/" in f]
    assert control_cats == [f for f in unbalanced.files if "/cats/" in f][: len(control_cats)]  # the first of its negatives
    smaller, larger = plan.training_set(5, 1), plan.training_set(10, 2)
    assert set(smaller.files) < set(larger.files)  # the data-size sweep nests as well


def test_validation_and_test_are_fixed_blocks_and_only_the_training_pools_follow_the_split_seed():
    a = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=3)
    b = cut_split(_files(), "cats", "dogs", SplitCounts.of([4, 6, 8], [1, 3, 4], 20), split_seed=3)
    assert a.val.files == b.val.files and a.test.files == b.test.files  # the training counts do not move them
    again = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=3)
    other = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=4)
    assert again.test.files == a.test.files and again.negative_pool == a.negative_pool
    assert other.test.files == a.test.files and other.val.files == a.val.files  # every run scored on the same photos
    assert other.negative_pool != a.negative_pool and set(other.negative_pool) == set(a.negative_pool)  # reshuffled pool
    np.testing.assert_array_equal(other.test.labels, a.test.labels)


def test_no_validation_or_test_photo_is_in_any_split_seeds_training_pool():
    plans = [cut_split(_files(), "cats", "dogs", COUNTS, split_seed=s) for s in range(6)]
    held_out = set(plans[0].val.files) | set(plans[0].test.files)
    assert all(not held_out & (set(p.negative_pool) | set(p.positive_pool)) for p in plans)
    assert not set(plans[0].val.files) & set(plans[0].test.files)
    assert len({p.positive_pool[:2] for p in plans}) > 1  # the training sets differ between split seeds


def test_too_few_files_names_the_class_and_what_was_asked():
    with pytest.raises(DataError, match=r"class 'dogs': validation 3, test 4 and a training pool of 12 need 19 files, but only 15"):
        cut_split(_files(n_pos=15), "cats", "dogs", COUNTS, split_seed=0)
    plan = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=0)
    with pytest.raises(DataError, match="a training set of 100 negative images was asked for, but the pool holds 26"):
        plan.training_set(100, 1)


@pytest.mark.parametrize(
    ("negative", "positive", "more", "message"),
    [([10, 6], [2, 3, 4], 12, "negative_split_counts=\\[10, 6\\] must be three whole numbers"),
     ([10, 0, 8], [2, 3, 4], 12, "validation and test need images of both classes"),
     ([10, 6, 8], [0, 3, 4], 12, "needs images of both classes"),
     ([10, 6, 8], [2, 3, 4], 1, "more_positives=1 must be at least the training positives \\(2\\)")],
)  # fmt: skip
def test_split_counts_are_checked_with_a_message_naming_the_parameter(negative, positive, more, message):
    with pytest.raises(DataError, match=message):
        SplitCounts.of(negative, positive, more)


def test_split_table_gives_sizes_and_shares_in_percent():
    plan = cut_split(_files(), "cats", "dogs", COUNTS, split_seed=0)
    table = split_table(plan, COUNTS, "cats", "dogs")
    assert list(table.index) == [UNBALANCED, CONTROL, MORE_POSITIVES, "validation", "test"]
    assert table.loc[UNBALANCED].tolist() == [10, 2, 12, "16.7 %"]
    assert table.loc[CONTROL].tolist() == [6, 6, 12, "50.0 %"]
    assert table.loc["test"].tolist() == [8, 4, 12, "33.3 %"]


def test_sweep_sizes_keep_the_negatives_for_ratios_and_the_ratio_for_data_sizes():
    counts = SplitCounts.of([1000, 1000, 3000], [100, 100, 300], 1000)
    assert [ratio_sizes(counts, r) for r in (1, 10, 100, 5000)] == [(1000, 1000), (1000, 100), (1000, 10), (1000, 1)]
    assert [same_ratio_sizes(counts, n) for n in (250, 2000)] == [(250, 25), (2000, 200)]
