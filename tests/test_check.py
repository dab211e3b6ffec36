"""Tests for unbalanced/check.py: the data check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import flat_data, write_images

from unbalanced.check import check_images
from unbalanced.splits import split_files
from unbalanced.storage import DataError


def test_decoded_images_shapes_dtype_and_file_order(flat_root: Path):
    splits, images = flat_data(flat_root)
    x = images["train_balanced"]
    assert x.shape == (6, 16, 16, 3) and x.dtype == np.uint8
    is_white = x.mean(axis=(1, 2, 3)) > 127
    np.testing.assert_array_equal(is_white, splits["train_balanced"].labels == 1)  # row i is file i


def test_data_check_keeps_exactly_the_good_files_and_names_every_bad_one(messy_root, unreadable_for_root):
    root, good, bad = messy_root
    check = check_images(root, 16)
    usable = {str(p.relative_to(root)) for files in check.usable.values() for p in files}
    assert usable == good
    reasons = {p.name: reason for p, reason in check.skipped}
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    table = check.table()
    assert table.loc["cats", "usable images"] == 10 and table.loc["dogs", "usable images"] == 11
    assert (table["files found"] == table["usable images"] + table["skipped"]).all()
    assert check.images.shape == (21, 16, 16, 3) and check.images.dtype == np.uint8
    lines = check.skipped_lines()
    assert any(line.startswith("train/cats/truncated.jpg: ") for line in lines)


def test_decoded_images_follow_their_files(messy_root, unreadable_for_root):
    root, _, _ = messy_root
    check = check_images(root, 16)
    grey = check.images[check.rows[str(root / "train" / "cats" / "grey.jpg")]]
    assert np.array_equal(grey[..., 0], grey[..., 1])  # grayscale converted to RGB: equal channels
    splits = split_files(check.usable, {"cats": [5, 0, 0, 5], "dogs": [5, 0, 0, 5]}, "dogs", seed=0)
    assert all(f in check.rows for split in splits.values() for f in split.files)  # only usable files are split
    assert check.images_of(splits["test"].files).shape == (10, 16, 16, 3)


def test_a_class_without_usable_images_is_an_error(tmp_path: Path):
    write_images(tmp_path / "train" / "cats", 3, 0)
    (tmp_path / "train" / "dogs").mkdir(parents=True)
    (tmp_path / "train" / "dogs" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=r"dogs.*no usable images"):
        check_images(tmp_path, 8)
