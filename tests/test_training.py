"""Tests for unbalanced/training.py: recipes, their priors and losses, and one training on the equal budget."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import labelled_images

import unbalanced.training as training
from unbalanced.model import _COMPILED_MODELS
from unbalanced.splits import CONTROL, MORE_POSITIVES
from unbalanced.training import (
    Recipe,
    average_precision,
    balancing,
    effective_prior,
    recipe_loss,
    sized,
    train_recipe,
)


def test_recipes_name_the_remedy_and_its_setting():
    assert training.baseline().label == "baseline"
    assert training.class_weight(10).label == "class weights (w = 10)"
    assert training.oversampling(0.25).label == "oversampling (25 % positives)"
    assert training.undersampling(3).label == "undersampling (3 negatives per positive)"
    assert training.focal_loss(0.25, 2).label == "focal loss (α = 0.25, γ = 2)" and training.focal_loss(0.25, 2).output_bias
    assert training.balanced_control().train_set == CONTROL and training.more_positives().train_set == MORE_POSITIVES
    assert sized(training.class_weight(3), 500, 50).train_set == "500:50"
    assert sized(training.class_weight(3), 500, 50).positive_weight == 3.0


def test_effective_priors_by_hand():
    assert effective_prior(training.baseline(), 1000, 100) == pytest.approx(100 / 1100)
    assert effective_prior(training.class_weight(10), 1000, 100) == pytest.approx(0.5)  # 10 x 100 against 1000
    assert effective_prior(training.oversampling(0.25), 1000, 100) == 0.25
    assert effective_prior(training.undersampling(3), 1000, 100) == pytest.approx(0.25)  # 300 negatives kept
    assert effective_prior(training.undersampling(30), 1000, 100) == pytest.approx(100 / 1100)  # only 1000 to keep
    assert effective_prior(training.focal_loss(0.75, 2), 1000, 100) == pytest.approx(75 / (75 + 250))


def test_balancing_settings_make_the_classes_weigh_the_same():
    for remedy in ("oversampling", "class weights", "undersampling"):
        assert effective_prior(balancing(remedy, 800, 20), 800, 20) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no balancing setting for 'smote'"):
        balancing("smote", 800, 20)


def test_focal_recipes_use_keras_focal_loss_with_their_parameters():
    import keras

    loss = recipe_loss(training.focal_loss(0.3, 1.5))
    assert isinstance(loss, keras.losses.BinaryFocalCrossentropy)
    assert loss.alpha == 0.3 and loss.gamma == 1.5 and loss.apply_class_balancing
    assert recipe_loss(training.baseline()) == "binary_crossentropy"


def _train(recipe: Recipe, seed: int = 7, epochs: int = 3, patience: int = 0, steps: int = 6) -> training.Trained:
    images, labels = labelled_images(60, 12, size=12)
    rng = np.random.default_rng(0)
    images = np.clip(images.astype(int) + rng.integers(0, 120, images.shape), 0, 255).astype(np.uint8)  # a learnable, noisy signal
    return train_recipe(recipe, seed, (images, labels), (images[::2], labels[::2]), images[1::2], batch_size=8, epochs=epochs,
                        patience=patience, steps_per_epoch=steps)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [training.baseline(), training.class_weight(5), training.oversampling(0.5),
                                    training.undersampling(1), training.augmented_oversampling(1.0), training.focal_loss(0.25, 2)])  # fmt: skip
def test_every_recipe_gets_the_same_number_of_updates(recipe: Recipe):
    trained = _train(recipe, epochs=3, patience=0, steps=6)
    assert trained.steps_per_epoch == 6 and trained.epochs_run == 3 and len(trained.history["loss"]) == 3
    assert trained.best_epoch == 3 and trained.updates == 18  # patience 0: the last epoch is kept


@pytest.mark.slow
def test_early_stopping_keeps_the_epoch_with_the_best_validation_ap_exactly():
    trained = _train(training.baseline(), epochs=8, patience=2)
    val_ap = trained.history["val_ap"]
    assert trained.best_epoch == int(np.argmax(val_ap)) + 1  # the first of equally good epochs
    images, labels = labelled_images(60, 12, size=12)
    assert average_precision(labels[::2], trained.val_scores) == val_ap[trained.best_epoch - 1]  # the kept weights' scores
    assert trained.epochs_run <= 8 and (trained.epochs_run == 8 or trained.epochs_run - trained.best_epoch == 2)


@pytest.mark.slow
def test_the_same_seed_gives_identical_scores_and_a_reused_compiled_model_trains_like_a_fresh_one():
    recipes = [training.baseline(), training.class_weight(5), training.oversampling(0.5), training.augmented_oversampling(1.0),
               training.initial_output_bias(), training.focal_loss(0.25, 2)]  # fmt: skip
    fresh = {}
    for r in recipes:
        _COMPILED_MODELS.clear()  # a newly built and compiled model for every recipe
        fresh[r.label] = _train(r, seed=3)
    _train(training.undersampling(1), seed=11)  # leaves trained state behind
    for r in reversed(recipes):  # reuses the compiled models, in another order, after other training
        again = _train(r, seed=3)
        np.testing.assert_array_equal(again.test_scores, fresh[r.label].test_scores, err_msg=r.label)
        assert again.history == fresh[r.label].history, r.label


@pytest.mark.slow
def test_updates_run_in_one_call_per_epoch_train_exactly_as_one_update_per_call(monkeypatch: pytest.MonkeyPatch):
    one_call = _train(training.oversampling(0.5), seed=5)
    real = training.initialised_model
    monkeypatch.setattr(training, "initialised_model", lambda *a, steps_per_execution=1, seed=None: real(*a, steps_per_execution=1, seed=seed))
    per_step = _train(training.oversampling(0.5), seed=5)
    np.testing.assert_array_equal(one_call.test_scores, per_step.test_scores)


def test_average_precision_by_hand_with_ties():
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.3, 0.1])
    # thresholds 0.9: P=1, R=1/3; 0.8 (a tie of one positive and one negative): P=2/3, R=2/3; 0.1: P=1/2, R=1
    assert average_precision(labels, scores) == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 1 / 2)


def test_an_epoch_is_one_pass_over_the_unbalanced_set_by_default():
    assert training.default_steps_per_epoch(1000, 100, 32) == 35  # 1,100 images in batches of 32
