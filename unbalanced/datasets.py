"""From decoded images to what Keras trains on: the study's data, tf.data streams, resampling and augmentation.

Every training stream repeats without end and is cut into epochs by a fixed number of steps, so that every way of
training gets the same number of gradient updates however large or resampled its training set is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .check import ImageCheck, check_images
from .files import class_roles
from .splits import Split, SplitCounts, SplitPlan, cut_split


@dataclass
class StudyData:
    """The data of a study: the data check, which class is positive, the split counts and one cut per split seed."""

    check: ImageCheck
    negative: str
    positive: str
    counts: SplitCounts
    plans: dict[int, SplitPlan] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The data root."""
        return self.check.root

    @property
    def classes(self) -> list[str]:
        """[negative, positive] class names (label 0, label 1)."""
        return [self.negative, self.positive]

    def plan(self, split_seed: int) -> SplitPlan:
        """The cut of the data for one split seed (made on first use)."""
        if split_seed not in self.plans:
            self.plans[split_seed] = cut_split(self.check.usable, self.negative, self.positive, self.counts, split_seed)
        return self.plans[split_seed]

    def images(self, split: Split) -> np.ndarray:
        """The decoded images of a split, in its order."""
        return self.check.images_of(split.files)


def load_study_data(
    data_root: Path, positive_class: str, classes: Sequence[str] | None, image_size: int, counts: SplitCounts,
    split_seeds: Sequence[int], verbose: bool = False,
) -> StudyData:  # fmt: skip
    """Check (or read from the image cache) every image once, name the classes, and cut one split per split seed."""
    check = check_images(data_root, image_size, classes, verbose=verbose)
    negative, positive = class_roles(list(check.usable), positive_class)
    data = StudyData(check, negative, positive, counts)
    for seed in split_seeds:
        data.plan(seed)  # fails now, naming the class and counts, if the data cannot hold the splits
    return data


def _scale(x: Any, y: Any) -> tuple[Any, Any]:
    """Turn uint8 pixels into float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 255.0, y


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int) -> Any:
    """An unshuffled, batched, scaled pipeline over decoded images: for scoring, in file order."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.float32)))
    return ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def augmentation(strength: float, seed: int) -> Any:
    """Seeded, label-preserving Keras layers: horizontal flips, and rotation and zoom that grow with `strength`."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.08 * strength, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom(0.1 * strength, fill_mode="reflect", seed=seed + 2),
        ],
        name="augment",
    )


def shuffled_stream(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> Any:
    """The training set reshuffled on every pass and repeated without end, in batches."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.float32)))
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    return ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def mixed_stream(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, positive_share: float,
                 augment: float = 0.0) -> Any:  # fmt: skip
    """Oversampling: one shuffled, repeated stream per class, drawn with explicit weights so that `positive_share` of
    the images are positive. With augment > 0 every image is augmented, so that the repeated positives vary; augmenting
    the positives alone would make the augmentation's look itself a sign of the class."""
    import tensorflow as tf

    labels = np.asarray(labels)
    per_class = []
    for label in (0, 1):
        x = images[labels == label]
        ds = tf.data.Dataset.from_tensor_slices((x, np.full(len(x), label, np.float32)))
        ds = ds.shuffle(len(x), seed=seed + label, reshuffle_each_iteration=True).repeat().map(_scale)
        if augment > 0:
            layer = augmentation(augment, seed + 10 * label)
            ds = ds.map(lambda x, y, layer=layer: (layer(x, training=True), y))
        per_class.append(ds)
    mixed = tf.data.Dataset.sample_from_datasets(
        per_class, weights=[1.0 - positive_share, positive_share], seed=seed, rerandomize_each_iteration=True
    )
    return mixed.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def undersample(labels: np.ndarray, negatives_per_positive: float, seed: int) -> np.ndarray:
    """Indices of every positive and a random `negatives_per_positive` times as many negatives, in their order."""
    labels = np.asarray(labels)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_neg = min(len(neg), int(round(negatives_per_positive * len(pos))))
    keep_neg = np.random.default_rng(seed).choice(neg, size=n_neg, replace=False)
    return np.sort(np.concatenate([pos, keep_neg]))


def positive_share(ds: Any, steps: int) -> tuple[float, int]:
    """Return the share of positive labels and the number of images in the first `steps` batches of a dataset."""
    labels = np.concatenate([y.numpy() for _, y in ds.take(steps)])
    return float(labels.mean()), len(labels)
