"""Tests for unbalanced/check.py: the data check."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_images

from unbalanced.check import check_images
from unbalanced.splits import SplitCounts, cut_split
from unbalanced.storage import DataError


def test_decoded_images_shapes_dtype_and_file_order(flat_root: Path):
    check = check_images(flat_root, 16)
    files = [str(f) for fs in check.usable.values() for f in fs]
    x = check.images_of(files)
    assert x.shape == (20, 16, 16, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x.mean(axis=(1, 2, 3)) > 127, ["/dogs/" in f for f in files])  # row i is file i


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
    assert "train/cats/truncated.jpg: corrupt or truncated JPEG" in lines  # a plain sentence
    assert not any("(TensorFlow: " in line or "function_node" in line for line in lines)  # no internal op text
    detailed = check.skipped_lines(detail=True)
    assert any(line.startswith("train/cats/truncated.jpg: corrupt or truncated JPEG (TensorFlow: ") for line in detailed)


def test_decoded_images_follow_their_files(messy_root, unreadable_for_root):
    root, _, _ = messy_root
    check = check_images(root, 16)
    grey = check.images[check.rows[str(root / "train" / "cats" / "grey.jpg")]]
    assert np.array_equal(grey[..., 0], grey[..., 1])  # grayscale converted to RGB: equal channels
    plan = cut_split(check.usable, "cats", "dogs", SplitCounts.of([3, 2, 5], [3, 2, 5], 3), split_seed=0)
    assert all(f in check.rows for f in plan.val.files + plan.test.files + plan.training_set(3, 3).files)  # usable only
    assert check.images_of(plan.test.files).shape == (10, 16, 16, 3)


def test_a_class_without_usable_images_is_an_error(tmp_path: Path):
    write_images(tmp_path / "train" / "cats", 3, 0)
    (tmp_path / "train" / "dogs").mkdir(parents=True)
    (tmp_path / "train" / "dogs" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=r"dogs.*no usable images"):
        check_images(tmp_path, 8)


def _without_root_privileges() -> list[str]:
    """A command prefix that runs a program unable to read what its permissions forbid: nothing for an ordinary user;
    for root, setpriv dropping the capabilities that let root read any file."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no way here to read files as an ordinary user would")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_an_unreadable_file_is_named_when_permissions_really_apply(messy_root):
    import subprocess
    import sys

    root, _, _ = messy_root
    code = ("import sys; from unbalanced.runtime import start_tensorflow; start_tensorflow(); "
            "from unbalanced.check import check_images; c = check_images(sys.argv[1], 16); "
            "print('\\n'.join(c.skipped_lines()))")  # fmt: skip
    done = subprocess.run([*_without_root_privileges(), sys.executable, "-c", code, str(root)], capture_output=True, text=True,
                          env={**os.environ, "UNBALANCED_IMAGE_CACHE": "off"}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train/cats/locked.jpg: cannot be read (Permission denied)" in done.stdout.splitlines()
