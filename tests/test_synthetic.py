"""Tests for unbalanced/synthetic.py: the synthetic demo images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import at_once

from unbalanced.files import find_class_files
from unbalanced.synthetic import make_demo_dataset


def test_demo_dataset_is_deterministic_and_in_the_kaggle_layout(tmp_path: Path):
    a = make_demo_dataset(tmp_path / "a", per_class=5)
    b = make_demo_dataset(tmp_path / "b", per_class=5)
    files_a, files_b = find_class_files(a), find_class_files(b)
    assert list(files_a) == ["cats", "dogs"] and len(files_a["dogs"]) == 5
    for fa, fb in zip(files_a["dogs"], files_b["dogs"]):
        assert fa.read_bytes() == fb.read_bytes()


def test_demo_classes_differ_in_blob_colour(tiny_demo_root: Path):
    """The positive blobs are warmer on average: a crude red-minus-blue score separates the classes."""
    from PIL import Image

    files = find_class_files(tiny_demo_root)
    warmth = {c: np.mean([np.asarray(Image.open(f), float)[..., 0].mean() - np.asarray(Image.open(f), float)[..., 2].mean()
                          for f in fs]) for c, fs in files.items()}
    assert warmth["dogs"] > warmth["cats"]


def test_two_runs_needing_the_demo_images_at_once_write_them_once(tmp_path: Path, monkeypatch):
    import time

    import unbalanced.synthetic as synthetic

    real, writes = synthetic.write_jpegs, []

    def slow_write(folder: Path, images, prefix: str, quality: int = 90):  # the other arrives while it writes
        writes.append(folder)
        time.sleep(0.3)
        return real(folder, images, prefix, quality)

    monkeypatch.setattr(synthetic, "write_jpegs", slow_write)
    errors = at_once(lambda: make_demo_dataset(tmp_path / "demo", per_class=3))
    assert not errors and len(writes) == 2  # one writer: cats, then dogs
    assert {c: len(f) for c, f in find_class_files(tmp_path / "demo").items()} == {"cats": 3, "dogs": 3}
