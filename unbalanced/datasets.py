"""From decoded images to what Keras trains on: the experiment's data, tf.data pipelines, resampling and augmentation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .check import ImageCheck, check_images
from .files import class_roles, data_root_or_demo
from .splits import Split, split_files


@dataclass
class Data:
    """Everything an experiment needs about its data: the check, the classes, the splits and their decoded images."""

    check: ImageCheck
    negative: str
    positive: str
    splits: dict[str, Split]
    images: dict[str, np.ndarray]

    @property
    def root(self) -> Path:
        """The data root."""
        return self.check.root

    @property
    def files_by_class(self) -> dict[str, list[Path]]:
        """The usable image files of each class."""
        return self.check.usable

    @property
    def classes(self) -> list[str]:
        """[negative, positive] class names (label 0, label 1)."""
        return [self.negative, self.positive]


def prepare_data(
    data_root: str,
    positive_class: str,
    negative_split_counts: Sequence[int],
    positive_split_counts: Sequence[int],
    split_seed: int,
    image_size: int,
    classes: Sequence[str] | None = None,
) -> Data:
    """Check and decode every file once, name the classes, cut the splits from the usable images, and report."""
    root = data_root_or_demo(data_root)
    check = check_images(root, image_size, classes, verbose=True)
    negative, positive = class_roles(list(check.usable), positive_class)
    counts = {negative: negative_split_counts, positive: positive_split_counts}
    splits = split_files(check.usable, counts, positive, seed=split_seed)
    print(f"data: {data_root or 'built-in synthetic demo data'}; positive (rare) class {positive!r}, negative {negative!r}")
    print(check.table().to_string())
    if check.skipped:
        print(f"skipped {len(check.skipped)} file(s):", *check.skipped_lines(limit=20), sep="\n  ")
    return Data(check, negative, positive, splits, {name: check.images_of(split.files) for name, split in splits.items()})


def _scale(x: Any, y: Any) -> tuple[Any, Any]:
    """Turn uint8 pixels into float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 255.0, y


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
    """Build a tf.data pipeline over decoded images: optionally reshuffled every epoch, batched, scaled, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.float32)))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)  # scale whole batches


def undersample(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep every positive and an equal number of randomly chosen negatives."""
    labels = np.asarray(labels)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    keep_neg = np.random.default_rng(seed).choice(neg, size=min(len(pos), len(neg)), replace=False)
    keep = np.sort(np.concatenate([pos, keep_neg]))
    return images[keep], labels[keep]


def augmentation(seed: int) -> Any:
    """Return seeded Keras preprocessing layers for mild, label-preserving augmentation."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.08, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
        ],
        name="augment",
    )


def make_resampled_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    positive_fraction: float = 0.5,
    augment_positives: bool = False,
) -> tuple[Any, int]:
    """Oversample: one shuffled, repeated dataset per class mixed with explicit weights; return it and steps per epoch."""
    import tensorflow as tf

    labels = np.asarray(labels)
    per_class = []
    for label in (0, 1):
        x = images[labels == label]
        ds = tf.data.Dataset.from_tensor_slices((x, np.full(len(x), label, np.float32)))
        ds = ds.shuffle(len(x), seed=seed + label, reshuffle_each_iteration=True).repeat().map(_scale)
        if label == 1 and augment_positives:
            layer = augmentation(seed)
            ds = ds.map(lambda x, y: (layer(x, training=True), y))  # after the decode, so no image is decoded again
        per_class.append(ds)
    mixed = tf.data.Dataset.sample_from_datasets(
        per_class, weights=[1.0 - positive_fraction, positive_fraction], seed=seed, rerandomize_each_iteration=True
    )
    steps = math.ceil(2 * int((labels == 0).sum()) / batch_size)  # an epoch shows about as many negatives as there are
    return mixed.batch(batch_size).prefetch(tf.data.AUTOTUNE), steps


def positive_share(ds: Any, steps: int) -> tuple[float, int]:
    """Return the share of positive labels and the number of images in the first `steps` batches of a dataset."""
    labels = np.concatenate([y.numpy() for _, y in ds.take(steps)])
    return float(labels.mean()), len(labels)
