"""Shared fixtures: tiny generated image folders, so tests run fast without real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import helpers as h

REAL_SAMPLE = h.PROJECT_ROOT.parent / "shared" / "data" / "cats-vs-dogs-sample"


def write_images(folder: Path, n: int, value: int, size: int = 20, prefix: str = "img") -> list[Path]:
    """Write `n` flat-colour JPEGs of grey level `value` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{prefix}.{i}.jpg"
        Image.fromarray(np.full((size, size + i % 3, 3), value, np.uint8)).save(p, quality=95)
        paths.append(p)
    return paths


@pytest.fixture
def flat_root(tmp_path: Path) -> Path:
    """A data root whose 'cats' are black and 'dogs' white, so an image's pixels reveal its class."""
    write_images(tmp_path / "train" / "cats", 12, 0, prefix="cat")
    write_images(tmp_path / "train" / "dogs", 8, 255, prefix="dog")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small copy of the synthetic demo dataset (40 images per class)."""
    return h.make_demo_dataset(tmp_path_factory.mktemp("demo"), per_class=40)
