"""Training: the recipes (a remedy at one setting), and one training under one seed on an equal budget.

Every recipe gets the same budget: `epochs` epochs of `steps_per_epoch` gradient updates, early stopping with the
same patience, and the kept weights are those of the epoch with the best validation average precision, the very
metric the study reports. All recipes start from the seed's initial weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .datasets import make_dataset, mixed_stream, shuffled_stream, undersample
from .model import initial_bias, initialised_model
from .runtime import seed_everything
from .splits import CONTROL, MORE_POSITIVES, UNBALANCED

BASELINE = "baseline"  # the plain unbalanced model every remedy is compared with, fixed before any result is seen
SCORING_BATCH = 256  # predictions in larger batches than training's: fewer calls into TensorFlow per image


@dataclass(frozen=True)
class Recipe:
    """One way of training the CNN: a remedy at one setting, on one training set."""

    remedy: str
    setting: str = ""  # what was chosen for this remedy, in words ("w = 10"); empty when it has no setting
    train_set: str = UNBALANCED  # a named training set (splits.TRAINING_SETS), or "<negatives>:<positives>"
    positive_weight: float = 1.0  # class weight of the positives (the negatives weigh 1)
    positive_share: float = 0.0  # > 0: oversample, drawing this share of positives into every batch
    negatives_per_positive: float = 0.0  # > 0: undersample, keeping this many negatives per positive
    augment: float = 0.0  # > 0: augment every training image (the oversampled positives vary) with this strength
    output_bias: bool = False  # start the output at the training prior, b0 = ln(pos/neg)
    focal: tuple[float, float] | None = None  # (alpha, gamma) of binary focal cross-entropy

    @property
    def label(self) -> str:
        """The recipe's name in tables and figures."""
        return f"{self.remedy} ({self.setting})" if self.setting else self.remedy

    def spec(self) -> dict[str, Any]:
        """Every field, for records and task keys."""
        return asdict(self)


def baseline() -> Recipe:
    """Plain training on the unbalanced set."""
    return Recipe(BASELINE)


def _check(ok: bool, message: str) -> None:
    """Reject a remedy setting that cannot be trained, saying what it must be."""
    if not ok:
        raise ValueError(message)


def class_weight(weight: float) -> Recipe:
    """Weight the positives' loss by `weight` (Keras class_weight)."""
    _check(weight > 0, f"class weight {weight:g} must be above 0")
    return Recipe("class weights", f"w = {weight:g}", positive_weight=float(weight))


def oversampling(share: float) -> Recipe:
    """Draw positives into every batch at `share`, repeating them as needed."""
    _check(0 < share < 1, f"oversampling share {share:g} must be between 0 and 1")
    return Recipe("oversampling", f"{100 * share:g} % positives", positive_share=float(share))


def undersampling(negatives_per_positive: float) -> Recipe:
    """Keep every positive and `negatives_per_positive` negatives for each."""
    _check(negatives_per_positive > 0, f"undersampling ratio {negatives_per_positive:g} must be above 0")
    per = f"{negatives_per_positive:g} negative{'' if negatives_per_positive == 1 else 's'} per positive"
    return Recipe("undersampling", per, negatives_per_positive=float(negatives_per_positive))


def augmented_oversampling(strength: float, share: float = 0.5) -> Recipe:
    """Oversample to `share` positives and augment every image with `strength`, so that the repeated positives vary."""
    _check(strength > 0 and 0 < share < 1, f"augmentation strength {strength:g} must be above 0, and the share between 0 and 1")
    return Recipe("oversampling + augmentation", f"strength {strength:g}", positive_share=float(share), augment=float(strength))


def initial_output_bias() -> Recipe:
    """Start the output at the training prior; nothing else changes."""
    return Recipe("initial bias", output_bias=True)


def focal_loss(alpha: float, gamma: float) -> Recipe:
    """Focal loss with class balance alpha (weight of the positives) and focusing gamma, from the initial bias."""
    _check(0 < alpha < 1 and gamma >= 0, f"focal loss alpha {alpha:g} must be between 0 and 1, and gamma {gamma:g} at least 0")
    return Recipe("focal loss", f"α = {alpha:g}, γ = {gamma:g}", output_bias=True, focal=(float(alpha), float(gamma)))


def balanced_control() -> Recipe:
    """The size-matched balanced training set: what balance alone does."""
    return Recipe("balanced, same size", train_set=CONTROL)


def more_positives() -> Recipe:
    """The unbalanced set's negatives with many more positives: what collecting data does (a reference)."""
    return Recipe("more positives", train_set=MORE_POSITIVES)


def sized(recipe: Recipe, negatives: int, positives: int) -> Recipe:
    """The same recipe on a training set of the given size (data-size and imbalance-ratio sweeps)."""
    return Recipe(**{**recipe.spec(), "train_set": f"{negatives}:{positives}"})


def effective_prior(recipe: Recipe, negatives: int, positives: int) -> float:
    """The positive share the loss sees in training, after resampling and weighting: the model's implicit prior.

    For focal loss it counts the alpha weighting only; the focusing term has no closed-form prior.
    """
    if recipe.positive_share > 0:
        return recipe.positive_share
    if recipe.negatives_per_positive > 0:
        negatives = min(negatives, round(recipe.negatives_per_positive * positives))
    pos, neg = recipe.positive_weight * positives, float(negatives)
    if recipe.focal is not None:
        alpha = recipe.focal[0]
        pos, neg = alpha * pos, (1 - alpha) * neg
    return pos / (pos + neg)


def recipe_loss(recipe: Recipe) -> Any:
    """Binary cross-entropy, or focal loss with the recipe's alpha and gamma."""
    import keras

    if recipe.focal is None:
        return "binary_crossentropy"
    alpha, gamma = recipe.focal
    return keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha, gamma=gamma)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision over distinct thresholds: scikit-learn's average_precision_score, in a few NumPy steps.

    Written out because early stopping and the bootstraps call it thousands of times, where scikit-learn's input
    checks would dominate; tests/test_metrics.py checks it against scikit-learn with ties.
    """
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1 - y)[last_of_tie]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))


def predict_scores(model: Any, ds: Any) -> np.ndarray:
    """The model's positive-class probabilities for an unshuffled dataset, in dataset order."""
    return np.asarray(model.predict(ds, verbose=0), dtype=np.float64).reshape(-1)


@dataclass
class Trained:
    """What one training produced: the kept epoch, the history, and validation and test scores of the kept weights."""

    best_epoch: int
    epochs_run: int
    steps_per_epoch: int
    effective_prior: float
    history: dict[str, list[float]]
    val_scores: np.ndarray
    test_scores: np.ndarray
    seconds: float = field(default=0.0)  # wall time, for progress and benchmarks (not written to records)
    timings: dict[str, float] = field(default_factory=dict)  # where those seconds went

    @property
    def updates(self) -> int:
        """Gradient updates behind the kept weights."""
        return self.best_epoch * self.steps_per_epoch


def _keep_best_callback(val_ds: Any, val_labels: np.ndarray, patience: int) -> Any:
    """A Keras callback that scores validation after each epoch, remembers the best weights, and stops after
    `patience` epochs without improvement (0: never stops early, and the last epoch is kept)."""
    import keras

    class KeepBestValidationAP(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.val_ap: list[float] = []
            self.best = (-1.0, 0, None, None)  # (AP, epoch, weights, validation scores)
            self.seconds = 0.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            start = time.perf_counter()
            self._score(epoch)
            self.seconds += time.perf_counter() - start

        def _score(self, epoch: int) -> None:
            scores = predict_scores(self.model, val_ds)
            ap = average_precision(val_labels, scores)
            self.val_ap.append(ap)
            if patience == 0 or ap > self.best[0]:  # ties keep the earlier epoch
                self.best = (ap, epoch + 1, self.model.get_weights(), scores)
            elif epoch + 1 - self.best[1] >= patience:
                self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            self.model.set_weights(self.best[2])

    return KeepBestValidationAP()


def training_stream(recipe: Recipe, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> Any:
    """The recipe's endless training stream: shuffled, oversampled (maybe augmented) or undersampled; with a class
    weight, each batch carries its sample weights (what Keras' class_weight does, but inside the stream, so that the
    weighting is part of the one pipeline whose order the seed fixes)."""
    if recipe.positive_share > 0:
        return mixed_stream(images, labels, batch_size, seed, recipe.positive_share, recipe.augment)
    if recipe.negatives_per_positive > 0:
        keep = undersample(labels, recipe.negatives_per_positive, seed)
        images, labels = images[keep], np.asarray(labels)[keep]
    stream = shuffled_stream(images, labels, batch_size, seed)
    return with_class_weight(stream, recipe.positive_weight) if recipe.positive_weight != 1.0 else stream


def with_class_weight(stream: Any, weight: float) -> Any:
    """Each batch carries a weight per example, w for a dog and 1 for a cat: Keras' `class_weight={0: 1, 1: w}`."""
    import tensorflow as tf

    return stream.map(lambda x, y: (x, y, tf.where(y > 0.5, float(weight), 1.0)))


def train_recipe(
    recipe: Recipe,
    seed: int,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test_images: np.ndarray,
    batch_size: int,
    epochs: int,
    patience: int,
    steps_per_epoch: int,
) -> Trained:
    """Train one recipe under one seed from the seed's initial weights, on the equal budget; score validation and test."""
    start = time.perf_counter()
    images, labels = train
    negatives, positives = int((np.asarray(labels) == 0).sum()), int(np.asarray(labels).sum())
    seed_everything(seed)  # the same seed gives every recipe the same initial weights and dropout seeds
    bias = initial_bias(labels) if recipe.output_bias else None
    model = initialised_model(images.shape[1], bias, recipe_loss(recipe), recipe.focal, steps_per_execution=steps_per_epoch, seed=seed)
    val_ds = make_dataset(val[0], val[1], SCORING_BATCH)
    keep_best = _keep_best_callback(val_ds, np.asarray(val[1]), patience)
    fit_start = time.perf_counter()
    history = model.fit(
        training_stream(recipe, images, labels, batch_size, seed),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[keep_best],
        shuffle=False,  # the stream shuffles itself
        verbose=0,
    )
    test_start = time.perf_counter()
    test_scores = predict_scores(model, make_dataset(test_images, np.zeros(len(test_images)), SCORING_BATCH))
    end = time.perf_counter()
    _, best_epoch, _, val_scores = keep_best.best
    timings = {"set-up": fit_start - start, "updates": test_start - fit_start - keep_best.seconds,
               "validation scoring": keep_best.seconds, "test scoring": end - test_start}  # fmt: skip
    return Trained(best_epoch, len(keep_best.val_ap), steps_per_epoch, effective_prior(recipe, negatives, positives),
                   {"loss": [float(v) for v in history.history["loss"]], "val_ap": keep_best.val_ap},
                   val_scores, test_scores, end - start, timings)  # fmt: skip


def default_steps_per_epoch(negatives: int, positives: int, batch_size: int) -> int:
    """One pass over the unbalanced training set: the epoch every recipe is held to."""
    return math.ceil((negatives + positives) / batch_size)


def balancing(remedy: str, negatives: int, positives: int) -> Recipe:
    """A remedy at its textbook setting for a training set of this size: the classes made to weigh the same."""
    if remedy == "oversampling":
        return oversampling(0.5)
    if remedy == "class weights":
        return class_weight(negatives / positives)
    if remedy == "undersampling":
        return undersampling(1.0)
    raise ValueError(f"no balancing setting for {remedy!r}; use 'oversampling', 'class weights' or 'undersampling'")
