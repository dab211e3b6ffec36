"""Tests for unbalanced/training.py: variants, losses and one training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import demo_data, labelled_images

from unbalanced.metrics import fast_average_precision
from unbalanced.model import _COMPILED_MODELS
from unbalanced.training import Variant, class_weights, train_variant, training_data, variant_loss


def test_class_weight_formula():
    labels = np.r_[np.zeros(600), np.ones(60)]
    balanced = class_weights(labels, "balanced")
    assert balanced == {0: pytest.approx(660 / 1200), 1: pytest.approx(660 / 120)}
    assert balanced[0] * 600 == pytest.approx(balanced[1] * 60)  # both classes weigh the same in total
    assert class_weights(labels, 10) == {0: 1.0, 1: 10.0}
    with pytest.raises(ValueError, match="positive_weight"):
        class_weights(labels, "heavy")
    with pytest.raises(ValueError, match="positive_weight"):
        class_weights(labels, -1)


def test_focal_variant_uses_keras_focal_loss_with_its_parameters():
    import keras

    loss = variant_loss(Variant("f", focal=(0.3, 1.5)))
    assert isinstance(loss, keras.losses.BinaryFocalCrossentropy)
    assert loss.alpha == 0.3 and loss.gamma == 1.5 and loss.apply_class_balancing
    assert variant_loss(Variant("plain")) == "binary_crossentropy"


def test_unknown_sampling_is_an_error():
    images, labels = labelled_images(4, 2)
    with pytest.raises(ValueError, match="sampling"):
        training_data(Variant("x", sampling="smote"), images, labels, 2, 0)


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(tiny_demo_root: Path):
    splits, images = demo_data(tiny_demo_root)
    variant = Variant("oversampled", sampling="oversample", augment_positives=True)
    first = train_variant(variant, 7, images, splits, batch_size=8, max_epochs=2, patience=0, verbose=0)
    second = train_variant(variant, 7, images, splits, batch_size=8, max_epochs=2, patience=0, verbose=0)
    np.testing.assert_array_equal(first.test_scores, second.test_scores)
    assert first.history == second.history


@pytest.mark.slow
def test_a_reused_compiled_model_trains_exactly_like_a_fresh_one(tiny_demo_root: Path):
    splits, images = demo_data(tiny_demo_root)
    variants = [Variant("plain"), Variant("weighted", class_weight={0: 1.0, 1: 5.0}),
                Variant("oversampled", sampling="oversample"), Variant("bias", output_bias=-1.0),
                Variant("focal", focal=(0.25, 2.0)), Variant("plain again")]  # fmt: skip
    train = lambda v, seed: train_variant(v, seed, images, splits, batch_size=8, max_epochs=3, patience=2, verbose=0)  # noqa: E731
    fresh = {}
    for v in variants:
        _COMPILED_MODELS.clear()  # a newly built and compiled model for every variant
        fresh[v.name] = train(v, 3)
    train(Variant("other seed, other data", train_split="train_balanced"), 11)  # leaves trained state behind
    for v in reversed(variants):  # reuses the compiled models, in another order, after other training
        reused = train(v, 3)
        np.testing.assert_array_equal(reused.test_scores, fresh[v.name].test_scores, err_msg=v.name)
        assert reused.history == fresh[v.name].history, v.name
    assert len(_COMPILED_MODELS) == 3  # plain, output bias -1, focal: one compiled model each


@pytest.mark.slow
def test_early_stopping_keeps_the_best_validation_epoch(tiny_demo_root: Path):
    splits, images = demo_data(tiny_demo_root)
    run = train_variant(Variant("balanced", train_split="train_balanced"), 1, images, splits, 8, 6, 2, verbose=0)
    val_pr = run.history["val_pr_auc"]
    assert run.best_epoch == int(np.argmax(val_pr)) + 1 and len(val_pr) <= 6
    # the kept weights are the best epoch's: the scores give that epoch's validation PR-AUC (Keras' approximation)
    assert fast_average_precision(splits["val"].labels, run.val_scores) == pytest.approx(max(val_pr), abs=0.05)
