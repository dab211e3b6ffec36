"""Synthetic images for tests and benchmarks: the seeded two-class demo set and the one JPEG writer they share.

The demo images are coloured blobs, not photos: the study's readers see real photos (the bundled set, or their
own); the demo exists so that tests and benchmarks run fast on data whose class signal is known.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .locks import owned

DEMO_CLASSES = ("cats", "dogs")


def write_jpegs(folder: Path, images: Iterable[np.ndarray], prefix: str, quality: int = 90) -> list[Path]:
    """Write uint8 RGB arrays as `<prefix>.<i>.jpg` into `folder`; return the paths."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{prefix}.{i}.jpg"
        Image.fromarray(image).save(path, quality=quality)
        paths.append(path)
    return paths


def demo_image(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    """Draw one synthetic RGB image: a noisy textured background with a blob whose hue depends on the class."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    gradient = rng.uniform(-0.3, 0.3, (2, 3)).astype(np.float32)
    img = background + yy[..., None] * gradient[0] + xx[..., None] * gradient[1]
    # Class signal: a hue score drawn from overlapping Gaussians (d' = 1.6), so no classifier is perfect.
    score = rng.normal(1.6 if positive else 0.0, 1.0)
    warmth = 1.0 / (1.0 + math.exp(-(score - 0.8)))
    colour = np.array([0.25 + 0.7 * warmth, 0.35, 0.95 - 0.7 * warmth], dtype=np.float32)
    cy, cx = rng.uniform(0.25, 0.75, 2)
    ry, rx = rng.uniform(0.12, 0.28, 2)
    blob = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1.0
    img[blob] = colour
    # A distractor blob of random colour, so the signal is not simply the mean colour.
    dy, dx = rng.uniform(0.1, 0.9, 2)
    distractor = (((yy - dy) / 0.12) ** 2 + ((xx - dx) / 0.12) ** 2) <= 1.0
    img[distractor] = rng.uniform(0.0, 1.0, 3)
    img += rng.normal(0.0, 0.06, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def demo_images(label: int, count: int, seed: int = 0, sizes: tuple[int, int] = (56, 97)) -> Iterable[np.ndarray]:
    """Yield `count` demo images of one class (label 1: positive), each a random size in [sizes[0], sizes[1])."""
    rng = np.random.default_rng([seed, label])
    for _ in range(count):
        size = int(rng.integers(*sizes))
        yield demo_image(rng, positive=label == 1, size=size)


def make_demo_dataset(
    root: str | os.PathLike[str],
    per_class: int = 2500,
    classes: tuple[str, str] = DEMO_CLASSES,
    seed: int = 0,
    sizes: tuple[int, int] = (56, 97),
) -> Path:
    """Write the synthetic two-class JPEG dataset to `<root>/train/<class>/` once; return the root. Two processes
    that need it at once (two runs on the demo data) write it once: the second waits, then finds it complete."""
    root = Path(root)
    marker = root / f".complete-{per_class}-{seed}" if sizes == (56, 97) else root / f".complete-{per_class}-{seed}-{sizes[0]}"
    if marker.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with owned(root.parent / f".{root.name}.writing", "the demo images being written", wait_s=600, say=lambda _: None):
        if not marker.exists():
            for label, name in enumerate(classes):
                write_jpegs(root / "train" / name, demo_images(label, per_class, seed, sizes), prefix=name[:-1])
            marker.touch()
    return root
