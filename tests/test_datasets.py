"""Tests for unbalanced/datasets.py: the study's data, endless training streams, resampling and augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import labelled_images

from unbalanced.datasets import load_study_data, make_dataset, mixed_stream, positive_share, shuffled_stream, undersample
from unbalanced.splits import SplitCounts
from unbalanced.storage import DataError


def test_the_study_data_cuts_one_plan_per_split_seed_from_usable_images(flat_root: Path):
    data = load_study_data(flat_root, "dogs", None, 16, SplitCounts.of([4, 2, 2], [2, 2, 2], 3), [0, 1])
    assert data.classes == ["cats", "dogs"] and set(data.plans) == {0, 1}
    test = data.plan(0).test
    x = data.images(test)
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x.mean(axis=(1, 2, 3)) > 127, test.labels == 1)  # row i is file i: dogs are white


def test_data_that_cannot_hold_the_splits_fails_before_any_training(flat_root: Path):
    with pytest.raises(DataError, match="class 'dogs'"):
        load_study_data(flat_root, "dogs", None, 16, SplitCounts.of([4, 2, 2], [2, 2, 2], 6), [0])


def test_scoring_pipeline_keeps_order_scale_and_labels():
    images, labels = labelled_images(10, 5)
    batches = list(make_dataset(images, labels, batch_size=4))
    x = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255), np.arange(15))  # file order
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), labels)


def test_shuffled_stream_repeats_without_end_reshuffles_and_keeps_labels_with_images():
    images, labels = labelled_images(12, 8)
    first, second = [np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in shuffled_stream(images, labels, 5, seed=3).take(4)])
                     for _ in range(2)]  # fmt: skip
    assert sorted(np.rint(first * 255).astype(int)) == list(range(20))  # one pass: every image once
    np.testing.assert_array_equal(first, second)  # the same seed, the same order
    two_passes = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in shuffled_stream(images, labels, 5, seed=3).take(8)])
    assert not np.array_equal(two_passes[:20], two_passes[20:])  # a fresh order on the next pass
    for x, y in shuffled_stream(images, labels, 5, seed=3).take(8):
        np.testing.assert_array_equal(x.numpy().mean(axis=(1, 2, 3)) > 0.3, y.numpy() == 1)


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_oversampling_draws_the_stated_share_of_positives_and_every_positive(share: float):
    images, labels = labelled_images(200, 20)
    ds = mixed_stream(images, labels, batch_size=16, seed=0, positive_share=share)
    observed, n = positive_share(ds, 100)
    assert n == 1600 and abs(observed - share) < 3 * np.sqrt(share * (1 - share) / n)  # within three standard errors
    seen = np.concatenate([np.rint(x.numpy()[:, 0, 0, 0] * 255) for x, _ in ds.take(100)]).astype(int)
    assert np.bincount(seen, minlength=220)[200:].min() >= 2  # every positive is drawn again and again


def test_augmentation_varies_every_image_of_both_classes():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    images = rng.integers(0, 255, (40, 16, 16, 3)).astype(np.uint8)
    originals = {img.tobytes() for img in images}
    changed, seen = {0: 0, 1: 0}, {0: 0, 1: 0}
    for x, y in mixed_stream(images, labels, batch_size=8, seed=2, positive_share=0.5, augment=1.0).take(10):
        for img, label in zip(x.numpy(), y.numpy()):
            seen[int(label)] += 1
            changed[int(label)] += np.rint(img * 255).astype(np.uint8).tobytes() not in originals
    assert changed[0] >= 0.9 * seen[0] and changed[1] >= 0.9 * seen[1]  # nearly every image is a new variant, in both classes


def test_undersampling_keeps_every_positive_and_the_stated_share_of_negatives():
    _, labels = labelled_images(50, 7)
    keep = undersample(labels, 2.0, seed=0)
    assert (labels[keep] == 1).sum() == 7 and (labels[keep] == 0).sum() == 14
    assert list(keep) == sorted(keep) and set(np.flatnonzero(labels == 1)) <= set(keep)
    np.testing.assert_array_equal(keep, undersample(labels, 2.0, seed=0))
    assert len(undersample(labels, 100.0, seed=0)) == 57  # never more negatives than there are
