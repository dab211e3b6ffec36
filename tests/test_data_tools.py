"""Tests for data_tools.py: the data check command and arranging the Kaggle flat layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_images

import data_tools as dt
from unbalanced.files import find_class_files
from unbalanced.storage import DataError


def test_check_command_lists_every_skipped_file(messy_root, unreadable_for_root, capsys: pytest.CaptureFixture[str]):
    root, good, bad = messy_root
    assert dt.main(["check", str(root), "--image-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "usable images" in out and f"{len(bad)} file(s) skipped" in out
    for name in bad:
        assert name in out


def test_check_command_reports_a_layout_error(tmp_path: Path, capsys):
    assert dt.main(["check", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("copy", [False, True])
def test_arrange_kaggle_links_or_copies_without_touching_the_source(tmp_path: Path, copy: bool):
    src = tmp_path / "kaggle" / "train"
    write_images(src, 3, 0, prefix="cat")
    write_images(src, 2, 255, prefix="dog")
    (src / ".DS_Store").write_bytes(b"x")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    counts = dt.arrange_kaggle(src, tmp_path / "root", copy=copy)
    assert counts == {"cats": 3, "dogs": 2}
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # nothing moved, changed or deleted
    arranged = tmp_path / "root" / "train" / "dogs" / "dog.1.jpg"
    assert arranged.is_symlink() != copy and arranged.read_bytes() == before["dog.1.jpg"]
    files = find_class_files(tmp_path / "root")
    assert {k: len(v) for k, v in files.items()} == {"cats": 3, "dogs": 2}


def test_arrange_kaggle_refuses_to_overwrite_or_nest(tmp_path: Path):
    src = tmp_path / "train"
    write_images(src, 1, 0, prefix="cat")
    dt.arrange_kaggle(src, tmp_path / "root")
    with pytest.raises(DataError, match="already exists"):
        dt.arrange_kaggle(src, tmp_path / "root")
    with pytest.raises(DataError, match="outside"):
        dt.arrange_kaggle(src, src / "inside")
