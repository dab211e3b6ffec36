"""Training: the ways of training the CNN (variants), one training under one seed, and a set of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .datasets import make_dataset, make_resampled_dataset, undersample
from .model import initialised_model
from .runtime import seed_everything
from .splits import Split


@dataclass(frozen=True)
class Variant:
    """One way of training the CNN: which training split, how it is resampled, weighted, initialised and scored."""

    name: str
    train_split: str = "train_unbalanced"
    sampling: str = "none"  # "none", "oversample" or "undersample"
    augment_positives: bool = False
    class_weight: Mapping[int, float] | None = None
    output_bias: float | None = None
    focal: tuple[float, float] | None = None  # (alpha, gamma) for binary focal cross-entropy


@dataclass
class ModelRun:
    """One trained model (a variant under one seed): its validation and test scores and its history."""

    model: str
    seed: int
    val_scores: np.ndarray
    test_scores: np.ndarray
    history: dict[str, list[float]]
    best_epoch: int


def class_weights(labels: np.ndarray, positive_weight: float | str) -> dict[int, float]:
    """Return Keras class weights: {0: 1, 1: w}, or for "balanced" total / (2 * count) for each class."""
    labels = np.asarray(labels)
    if positive_weight == "balanced":
        total = len(labels)
        return {c: total / (2 * int((labels == c).sum())) for c in (0, 1)}
    if isinstance(positive_weight, str) or float(positive_weight) <= 0:
        raise ValueError(f"positive_weight must be a positive number or 'balanced', got {positive_weight!r}")
    return {0: 1.0, 1: float(positive_weight)}


def variant_loss(variant: Variant) -> Any:
    """Return the loss of a variant: binary cross-entropy, or focal loss with its alpha and gamma."""
    import keras

    if variant.focal is None:
        return "binary_crossentropy"
    alpha, gamma = variant.focal
    return keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha, gamma=gamma)


def training_data(variant: Variant, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> tuple[Any, int | None]:
    """Return a variant's training dataset and its steps per epoch (None: one pass over the data)."""
    if variant.sampling == "oversample":
        return make_resampled_dataset(images, labels, batch_size, seed, augment_positives=variant.augment_positives)
    if variant.sampling == "undersample":
        images, labels = undersample(images, labels, seed)
    elif variant.sampling != "none":
        raise ValueError(f"unknown sampling {variant.sampling!r}; use 'none', 'oversample' or 'undersample'")
    return make_dataset(images, labels, batch_size, shuffle=True, seed=seed), None


def train_model(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    max_epochs: int,
    patience: int = 0,
    steps_per_epoch: int | None = None,
    class_weight: Mapping[int, float] | None = None,
    verbose: int = 2,
) -> tuple[dict[str, list[float]], int]:
    """Fit `model`, with early stopping on validation PR-AUC when patience > 0; return history and best epoch (1-based)."""
    import keras

    callbacks = []
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_pr_auc", mode="max", patience=patience, restore_best_weights=True)
        )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=max_epochs,
        steps_per_epoch=steps_per_epoch,
        class_weight=dict(class_weight) if class_weight else None,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles each epoch itself
        verbose=verbose,
    )
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    best = int(np.argmax(hist["val_pr_auc"])) + 1 if patience > 0 else len(hist["loss"])
    return hist, best


def predict_scores(model: Any, ds: Any) -> np.ndarray:
    """Return the model's positive-class probabilities for an unshuffled dataset, in dataset order."""
    return np.asarray(model.predict(ds, verbose=0), dtype=np.float64).reshape(-1)


def train_variant(
    variant: Variant,
    seed: int,
    images: Mapping[str, np.ndarray],
    splits: Mapping[str, Split],
    batch_size: int,
    max_epochs: int,
    patience: int,
    verbose: int = 2,
) -> ModelRun:
    """Train one variant under one seed from the seed's initial weights; score validation and test sets."""
    seed_everything(seed)  # same seed -> same initial weights for every variant
    image_size = images["val"].shape[1]
    model = initialised_model(image_size, variant.output_bias, variant_loss(variant), variant.focal)
    train_ds, steps = training_data(variant, images[variant.train_split], splits[variant.train_split].labels, batch_size, seed)
    val_ds = make_dataset(images["val"], splits["val"].labels, batch_size)
    history, best = train_model(model, train_ds, val_ds, max_epochs, patience, steps, variant.class_weight, verbose)
    test_ds = make_dataset(images["test"], splits["test"].labels, batch_size)
    return ModelRun(variant.name, seed, predict_scores(model, val_ds), predict_scores(model, test_ds), history, best)


def run_variants(
    variants: Sequence[Variant],
    seeds: Sequence[int],
    images: Mapping[str, np.ndarray],
    splits: Mapping[str, Split],
    batch_size: int,
    max_epochs: int,
    patience: int,
    verbose: int = 2,
) -> list[ModelRun]:
    """Train every variant once per seed, printing progress; return the runs in (seed, variant) order."""
    runs, total = [], len(variants) * len(seeds)
    for seed in seeds:
        for variant in variants:
            print(f"--- model {len(runs) + 1}/{total}: {variant.name}, seed {seed}", flush=True)
            runs.append(train_variant(variant, seed, images, splits, batch_size, max_epochs, patience, verbose))
            print(f"    best epoch {runs[-1].best_epoch} of {len(runs[-1].history['loss'])}", flush=True)
    return runs
