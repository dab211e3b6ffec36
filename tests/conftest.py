"""Shared fixtures: tiny generated image folders, so tests run fast without real photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import unbalanced.decode
from unbalanced.cache import IMAGE_CACHE_ENV
from unbalanced.check import check_images
from unbalanced.splits import split_files
from unbalanced.storage import PROJECT_ROOT
from unbalanced.synthetic import make_demo_dataset, write_jpegs
from unbalanced.training import ModelRun

REAL_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "cats-vs-dogs-sample"
COUNTS = {"cats": [3, 3, 2, 2], "dogs": [3, 1, 2, 2]}  # per class: balanced train, unbalanced train, validation, test


@pytest.fixture(autouse=True, scope="session")
def private_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point the image cache at a folder of this test session (the notebooks' kernels inherit it too)."""
    folder = tmp_path_factory.mktemp("image-cache")
    os.environ[IMAGE_CACHE_ENV] = str(folder)
    return folder


def write_images(folder: Path, n: int, value: int, size: int = 20, prefix: str = "img") -> list[Path]:
    """Write `n` flat-colour JPEGs of grey level `value` into `folder`."""
    return write_jpegs(folder, (np.full((size, size + i % 3, 3), value, np.uint8) for i in range(n)), prefix, quality=95)


@pytest.fixture
def flat_root(tmp_path: Path) -> Path:
    """A data root whose 'cats' are black and 'dogs' white, so an image's pixels reveal its class."""
    write_images(tmp_path / "train" / "cats", 12, 0, prefix="cat")
    write_images(tmp_path / "train" / "dogs", 8, 255, prefix="dog")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small copy of the synthetic demo dataset (40 images per class)."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo"), per_class=40)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """Write a PNG whose header claims width x height pixels, without pixel data (a 'decompression bomb' header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture
def messy_root(tmp_path: Path) -> tuple[Path, set[str], dict[str, str]]:
    """A data root mixing good images with every kind of bad file; returns it, the good files and the bad ones' reasons."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "messy root"
    cats, dogs = root / "train" / "cats", root / "train" / "dogs"
    good: set[str] = set()

    def image(path: Path, mode: str = "RGB", fmt: str | None = None, size: tuple[int, int] = (40, 30)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(path, format=fmt)
        good.add(str(path.relative_to(root)))

    for i in range(6):
        image(cats / f"cat.{i}.jpg")
        image(dogs / f"dog.{i}.jpg")
    image(cats / "grey.jpg", "L")
    image(cats / "cmyk.jpg", "CMYK")
    image(cats / "alpha.png", "RGBA")
    image(dogs / "png named as.jpg", fmt="PNG")
    image(dogs / "palette.gif", "P")
    image(dogs / "bitmap.bmp")
    image(dogs / "big photo.jpg", size=(2400, 1800))
    image(cats / "nested" / "deeper" / "chat noir é.jpg")
    (dogs / "link to dog.jpg").symlink_to(dogs / "dog.0.jpg")
    good.add("train/dogs/link to dog.jpg")

    bad: dict[str, str] = {}
    jpeg = (cats / "cat.0.jpg").read_bytes()
    (cats / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    bad["truncated.jpg"] = "JPEG"
    corrupt = bytearray(jpeg)
    corrupt[2:400] = rng.integers(0, 255, 398, dtype=np.uint8).tobytes()
    (cats / "corrupt.jpg").write_bytes(bytes(corrupt))
    bad["corrupt.jpg"] = "decode"
    (dogs / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty"
    (cats / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    bad[".DS_Store"] = "hidden"
    (dogs / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    bad["Thumbs.db"] = "not an image"
    (dogs / "notes.txt").write_text("labels checked by hand")
    bad["notes.txt"] = "not an image"
    _png_header_only(dogs / "huge.png", 30000, 20000)
    bad["huge.png"] = "too large"
    (cats / "loop").symlink_to(cats)
    bad["loop"] = "loop"
    (cats / "gone.jpg").symlink_to(cats / "does-not-exist.jpg")
    bad["gone.jpg"] = "broken"
    locked = cats / "locked.jpg"
    locked.write_bytes(jpeg)
    locked.chmod(0)
    bad["locked.jpg"] = "cannot be read"
    return root, good, bad


@pytest.fixture
def unreadable_for_root(monkeypatch: pytest.MonkeyPatch):
    """Root reads files whatever their permission bits: make a chmod-000 file unreadable for root too."""
    real = unbalanced.decode.read_head

    def read_head(path: Path) -> bytes:
        if not os.stat(path).st_mode & 0o444:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(unbalanced.decode, "read_head", read_head)


def flat_data(root: Path, counts: dict[str, list[int]] = COUNTS) -> tuple[dict, dict]:
    """Splits of a flat-colour data root at 16 px, and each split's decoded images."""
    check = check_images(root, 16)
    splits = split_files(check.usable, counts, "dogs", seed=0)
    return splits, {name: check.images_of(split.files) for name, split in splits.items()}


def labelled_images(n_neg: int, n_pos: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first pixel encodes their index and whose brightness encodes their class."""
    labels = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    images = np.zeros((len(labels), 8, 8, 3), np.uint8)
    images[labels == 1] = 200
    images[:, 0, 0, 0] = np.arange(len(labels))
    return images, labels


def model_runs() -> tuple[list[ModelRun], np.ndarray, np.ndarray]:
    """Three seeds of a good and a poor model's scores on generated validation and test labels."""
    rng = np.random.default_rng(0)
    val, test = (rng.random(200) < 0.2).astype(int), (rng.random(200) < 0.2).astype(int)
    runs = []
    for seed in (1, 2, 3):
        for name, signal in (("good", 2.0), ("poor", 0.2)):
            noise = np.random.default_rng(seed)
            runs.append(ModelRun(name, seed, 1 / (1 + np.exp(-(signal * val + noise.normal(0, 1, 200)))),
                                 1 / (1 + np.exp(-(signal * test + noise.normal(0, 1, 200)))),
                                 {"loss": [1.0, 0.9], "val_loss": [1.0, 1.0], "pr_auc": [0.2, 0.3], "val_pr_auc": [0.2, 0.25]}, 2))  # fmt: skip
    return runs, val, test


def demo_data(root: Path) -> tuple[dict, dict]:
    """Splits and images of the tiny demo root at 32 px."""
    from unbalanced.datasets import prepare_data

    data = prepare_data(str(root), "dogs", [14, 10, 8, 8], [14, 4, 8, 8], split_seed=0, image_size=32)
    return data.splits, data.images
