"""Tests for unbalanced/files.py: finding the class folders and their files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import write_images

from unbalanced.check import check_images
from unbalanced.files import class_roles, find_class_files, relative_names
from unbalanced.storage import DataError


def test_find_class_files_sorted_classes_and_candidate_files(flat_root: Path):
    (flat_root / "train" / "cats" / ".hidden.jpg").write_bytes(b"x")
    (flat_root / "train" / "cats" / "notes.txt").write_text("not an image")
    (flat_root / "train" / ".DS_Store").write_bytes(b"x")
    files = find_class_files(flat_root)
    assert list(files) == ["cats", "dogs"]
    assert len(files["cats"]) == 13 and len(files["dogs"]) == 8  # notes.txt is a candidate; the check rejects it
    assert not any(f.name.startswith(".") for f in files["cats"])
    assert files["cats"] == sorted(files["cats"])
    assert len(check_images(flat_root, 8).usable["cats"]) == 12


def test_find_class_files_missing_root_names_the_folder(tmp_path: Path):
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        find_class_files(tmp_path / "nope")


def test_find_class_files_missing_train_folder(tmp_path: Path):
    with pytest.raises(DataError, match="train"):
        find_class_files(tmp_path)


def test_find_class_files_empty_class_is_named(flat_root: Path):
    (flat_root / "train" / "birds").mkdir()
    with pytest.raises(DataError, match="birds"):
        find_class_files(flat_root)


def test_class_roles_checks_positive_class_and_count():
    assert class_roles(["cats", "dogs"], "dogs") == ("cats", "dogs")
    assert class_roles(["cats", "dogs"], "cats") == ("dogs", "cats")
    with pytest.raises(DataError, match="positive_class='birds'"):
        class_roles(["cats", "dogs"], "birds")
    with pytest.raises(DataError, match="exactly two"):
        class_roles(["a", "b", "c"], "a")


def test_kaggle_flat_layout_is_recognised(tmp_path: Path):
    write_images(tmp_path / "train", 2, 0, prefix="cat")
    write_images(tmp_path / "train", 2, 255, prefix="dog")
    with pytest.raises(DataError, match=r"Kaggle flat layout.*arrange-kaggle"):
        find_class_files(tmp_path)


def test_more_than_two_class_folders_need_the_classes_parameter(flat_root: Path):
    write_images(flat_root / "train" / "birds", 2, 128)
    with pytest.raises(DataError, match=r"exactly two class folders.*birds.*classes="):
        find_class_files(flat_root)
    assert list(find_class_files(flat_root, classes=["dogs", "cats"])) == ["cats", "dogs"]
    with pytest.raises(DataError, match="must name two"):
        find_class_files(flat_root, classes=["cats", "fish"])


@pytest.mark.parametrize(
    "root, file",
    [("/data/pets", "/data/pets/train/cats/a.jpg"), (".", "train/cats/a.jpg"), ("pets", "pets/train/a b/é.jpg"),
     ("/", "/train/a.jpg"), ("x/../pets", "x/../pets/train/a.jpg"), ("/data/pets", "/data/pets2/train/a.jpg"), (".", "/abs/a.jpg")],
)  # fmt: skip
def test_relative_names_agree_with_os_path_relpath(root: str, file: str):
    assert relative_names(Path(root), [Path(file)]) == [os.path.relpath(file, root)]
