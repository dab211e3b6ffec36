"""Tests for unbalanced/splits.py: cutting the splits."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import COUNTS

from unbalanced.files import find_class_files
from unbalanced.splits import SPLIT_NAMES, split_files, split_table
from unbalanced.storage import DataError


def test_splits_are_disjoint_sized_and_labelled_by_folder(flat_root: Path):
    files = find_class_files(flat_root)
    splits = split_files(files, COUNTS, "dogs", seed=1)
    assert list(splits) == list(SPLIT_NAMES)
    all_files = [f for s in splits.values() for f in s.files]
    assert len(all_files) == len(set(all_files)) == 18
    for name, i in zip(SPLIT_NAMES, range(4)):
        assert len(splits[name]) == COUNTS["cats"][i] + COUNTS["dogs"][i]
        assert splits[name].positives == COUNTS["dogs"][i]
        for f, label in zip(splits[name].files, splits[name].labels):
            assert label == (Path(f).parent.name == "dogs")


def test_splits_are_deterministic_and_depend_on_seed(flat_root: Path):
    files = find_class_files(flat_root)
    first = split_files(files, COUNTS, "dogs", seed=1)
    again = split_files(files, COUNTS, "dogs", seed=1)
    other = split_files(files, COUNTS, "dogs", seed=2)
    assert all(first[n].files == again[n].files for n in SPLIT_NAMES)
    assert any(first[n].files != other[n].files for n in SPLIT_NAMES)


def test_split_asking_for_too_many_files_names_class_asked_and_found(flat_root: Path):
    files = find_class_files(flat_root)
    with pytest.raises(DataError, match=r"'dogs'.*asks? for 10 files.*only 8"):
        split_files(files, {"cats": [1, 1, 1, 1], "dogs": [4, 2, 2, 2]}, "dogs", seed=0)


def test_split_counts_must_match_split_names_and_classes(flat_root: Path):
    files = find_class_files(flat_root)
    with pytest.raises(DataError, match="4 split counts"):
        split_files(files, {"cats": [1, 1], "dogs": [1, 1, 1, 1]}, "dogs", seed=0)
    with pytest.raises(DataError, match="birds"):
        split_files(files, {"birds": [1, 1, 1, 1]}, "dogs", seed=0)


def test_split_table_counts(flat_root: Path):
    splits = split_files(find_class_files(flat_root), COUNTS, "dogs", seed=0)
    table = split_table(splits, "cats", "dogs")
    assert table.loc["train_unbalanced", "cats"] == 3 and table.loc["train_unbalanced", "dogs"] == 1
    assert table.loc["val", "positive share"] == 0.5
