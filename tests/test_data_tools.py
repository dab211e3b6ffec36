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
    counts, skipped = dt.arrange_kaggle(src, tmp_path / "root", copy=copy)
    assert counts == {"cats": 3, "dogs": 2} and skipped == {".DS_Store": "hidden file"}
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # nothing moved, changed or deleted
    arranged = tmp_path / "root" / "train" / "dogs" / "dog.1.jpg"
    assert arranged.is_symlink() != copy and arranged.read_bytes() == before["dog.1.jpg"]
    files = find_class_files(tmp_path / "root")
    assert {k: len(v) for k, v in files.items()} == {"cats": 3, "dogs": 2}


def test_arrange_kaggle_refuses_to_overwrite_or_nest(tmp_path: Path):
    src = tmp_path / "train"
    write_images(src, 1, 0, prefix="cat")
    write_images(src, 1, 255, prefix="dog")
    dt.arrange_kaggle(src, tmp_path / "root")
    with pytest.raises(DataError, match="already exists"):
        dt.arrange_kaggle(src, tmp_path / "root")
    with pytest.raises(DataError, match="outside"):
        dt.arrange_kaggle(src, src / "inside")


def test_arrange_kaggle_takes_only_what_it_understands_and_lists_the_rest(tmp_path: Path, capsys):
    src = tmp_path / "test1"
    write_images(src, 40, 0, prefix="cat")
    write_images(src, 30, 255, prefix="dog")
    write_images(src, 1, 128, prefix="bird")  # one stray prefix among 71 files: not a class
    (src / "1.jpg").write_bytes((src / "cat.0.jpg").read_bytes())  # as in the download's test1/
    (src / "readme.txt").write_text("photos from Petfinder")
    (src / "cat.1.txt").write_text("not an image extension")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    assert dt.main(["arrange-kaggle", str(src), str(tmp_path / "root")]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "root" / "train").iterdir()) == ["cats", "dogs"]  # nothing else became a class
    assert "40 cats, 30 dogs linked" in printed and "4 file(s) skipped" in printed
    for line in ("1.jpg: not named <class>.<id>.<image extension>", "readme.txt: not named", "cat.1.txt: not named",
                 "bird.0.jpg: class 'bird' has only 1 of 71 files (under 5%); name it with --classes to keep it"):  # fmt: skip
        assert line in printed
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # the source is untouched
    counts, skipped = dt.arrange_kaggle(src, tmp_path / "birds", classes=["cat", "bird"])
    assert counts == {"cats": 40, "birds": 1} and "class 'dog' is not among --classes cat bird" in skipped["dog.0.jpg"]
    with pytest.raises(DataError, match="--classes fish: no files named fish"):
        dt.arrange_kaggle(src, tmp_path / "fish", classes=["cat", "fish"])


def test_arrange_kaggle_folds_the_class_names_case(tmp_path: Path):
    src = tmp_path / "train"
    src.mkdir()
    for name in ("cat.1.jpg", "Cat.3.JPG", "CAT.4.jpeg", "dog.1.jpg", "Dog.2.jpg"):
        (src / name).write_bytes(b"x")
    counts, skipped = dt.arrange_kaggle(src, tmp_path / "root")
    assert counts == {"cats": 3, "dogs": 2} and not skipped
    assert sorted(p.name for p in (tmp_path / "root" / "train").iterdir()) == ["cats", "dogs"]
    assert (tmp_path / "root" / "train" / "cats" / "Cat.3.JPG").exists()
