"""Tests for unbalanced/datasets.py: tf.data pipelines, resampling and augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import flat_data, labelled_images

from unbalanced.datasets import make_dataset, make_resampled_dataset, positive_share, undersample


def test_make_dataset_shapes_dtypes_and_order(flat_root: Path):
    splits, images = flat_data(flat_root)
    ds = make_dataset(images["train_balanced"], splits["train_balanced"].labels, batch_size=4)
    x, y = next(iter(ds))
    assert x.shape == (4, 16, 16, 3) and x.dtype.name == "float32" and y.dtype.name == "float32"
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0
    labels = np.concatenate([b[1].numpy() for b in ds])
    np.testing.assert_array_equal(labels, splits["train_balanced"].labels)


def test_shuffled_pipeline_keeps_each_image_with_its_label_and_reshuffles(flat_root: Path):
    splits, images = flat_data(flat_root, {"cats": [12, 0, 0, 0], "dogs": [8, 0, 0, 0]})
    ds = make_dataset(images["train_balanced"], splits["train_balanced"].labels, batch_size=5, shuffle=True, seed=3)
    epochs = []
    for _ in range(2):
        xs, ys = zip(*[(b[0].numpy(), b[1].numpy()) for b in ds])
        x, y = np.concatenate(xs), np.concatenate(ys)
        np.testing.assert_array_equal(x.mean(axis=(1, 2, 3)) > 0.5, y == 1)  # white images are the dogs
        epochs.append(y)
    assert sorted(epochs[0]) == sorted(epochs[1]) and epochs[0].sum() == 8
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh order each epoch


@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_oversampling_yields_the_stated_class_ratio_over_an_epoch(fraction: float):
    images, labels = labelled_images(200, 20)
    ds, steps = make_resampled_dataset(images, labels, batch_size=16, seed=0, positive_fraction=fraction)
    assert steps == 25  # ceil(2 * 200 / 16): about every negative once per epoch
    share, n = positive_share(ds, steps)
    assert n == 400 and abs(share - fraction) < 0.06
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x.numpy().mean(axis=(1, 2, 3)) > 0.3, y.numpy() == 1)  # labels travel with images


def test_oversampling_repeats_every_positive():
    images, labels = labelled_images(100, 10)
    ds, steps = make_resampled_dataset(images, labels, batch_size=10, seed=1)
    seen = np.concatenate([np.rint(x.numpy()[:, 0, 0, 0] * 255) for x, y in ds.take(steps)]).astype(int)
    positives_seen = set(seen) & set(range(100, 110))
    assert positives_seen == set(range(100, 110))


def test_augmentation_changes_positives_only():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    images = rng.integers(0, 255, (40, 16, 16, 3)).astype(np.uint8)
    ds, steps = make_resampled_dataset(images, labels, batch_size=8, seed=2, augment_positives=True)
    originals = {img.tobytes() for img in images}
    changed = {0: 0, 1: 0}
    for x, y in ds.take(steps):
        for img, label in zip(x.numpy(), y.numpy()):
            back = np.rint(img * 255).astype(np.uint8)
            changed[int(label)] += back.tobytes() not in originals
    assert changed[0] == 0 and changed[1] > 0


def test_undersampling_keeps_every_minority_file_and_balances():
    images, labels = labelled_images(50, 7)
    x, y = undersample(images, labels, seed=0)
    assert int(y.sum()) == 7 and len(y) == 14
    assert set(x[y == 1][:, 0, 0, 0]) == set(range(50, 57))
    x2, _ = undersample(images, labels, seed=0)
    np.testing.assert_array_equal(x, x2)
