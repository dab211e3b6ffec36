"""Figures: sample images, augmented copies, training curves, confusion matrices, score curves and metric bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .datasets import augmentation
from .metrics import mean_sd
from .training import ModelRun


def plot_confusion_matrix(
    labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str], title: str, threshold: float = 0.5, ax: Any = None
) -> Any:
    """Draw the confusion matrix at `threshold` as a seaborn heatmap (rows: truth, columns: prediction)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    cm = confusion_matrix(np.asarray(labels).astype(int), (np.asarray(scores) >= threshold).astype(int), labels=[0, 1])
    sns.heatmap(cm, annot=True, fmt="d", cmap="rocket_r", cbar=False, ax=ax, xticklabels=class_names, yticklabels=class_names)
    ax.set(title=f"{title} @ {threshold:.2f}", xlabel="predicted", ylabel="truth")
    return ax


def plot_sample_grid(files_by_class: Mapping[str, Sequence[Path]], per_class: int = 6, seed: int = 0) -> Any:
    """Show `per_class` randomly chosen images of each class, one row per class."""
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(files_by_class), per_class, figsize=(1.6 * per_class, 1.8 * len(files_by_class)), squeeze=False)
    for row, (name, files) in zip(axes, files_by_class.items()):
        picks = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        for ax, i in zip(row, picks):
            with Image.open(files[i]) as im:
                ax.imshow(im.convert("RGB"))
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_augmented(image: np.ndarray, seed: int, copies: int = 6) -> Any:
    """Show one image and `copies` augmented versions of it, as the oversampled minority sees them."""
    import matplotlib.pyplot as plt

    layer = augmentation(seed)
    fig, axes = plt.subplots(1, copies + 1, figsize=(1.6 * (copies + 1), 1.9))
    x = image.astype(np.float32)[None] / 255.0
    for i, ax in enumerate(axes):
        shown = x[0] if i == 0 else np.asarray(layer(x, training=True))[0]
        ax.imshow(np.clip(shown, 0, 1))
        ax.set(xticks=[], yticks=[], title="original" if i == 0 else f"copy {i}")
    fig.tight_layout()
    return fig


def plot_training_curves(runs: Sequence[ModelRun], title: str) -> Any:
    """Plot loss and PR-AUC per epoch, train (solid) vs validation (dashed), one colour per seed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for i, run in enumerate(runs):
        epochs = np.arange(1, len(run.history["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "pr_auc")):
            ax.plot(epochs, run.history[key], color=f"C{i}", label=f"train, seed {run.seed}")
            ax.plot(epochs, run.history[f"val_{key}"], "--", color=f"C{i}", label=f"validation, seed {run.seed}")
        axes[1].plot(run.best_epoch, run.history["val_pr_auc"][run.best_epoch - 1], "o", color=f"C{i}")
    axes[0].set(title=f"{title}: loss", xlabel="epoch")
    axes[1].set(title=f"{title}: PR-AUC (dot: weights kept)", xlabel="epoch")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_score_curves(runs: Sequence[ModelRun], test_labels: np.ndarray) -> Any:
    """Overlay each model's PR and ROC curves on the test set, averaged over seeds on a common grid."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    grid = np.linspace(0, 1, 201)
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    by_model: dict[str, list[ModelRun]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    for i, (model, model_runs) in enumerate(by_model.items()):
        precisions, tprs = [], []
        for run in model_runs:
            p, r, _ = precision_recall_curve(test_labels, run.test_scores)  # recall runs from 1 down to 0
            interpolated = np.maximum.accumulate(p)  # the best precision at this recall or higher
            precisions.append(np.interp(grid, r[::-1], interpolated[::-1]))
            fpr, tpr, _ = roc_curve(test_labels, run.test_scores)
            tprs.append(np.interp(grid, fpr, tpr))
        style = dict(color=f"C{i % 10}", linestyle="-" if i < 10 else "--", label=model)
        ax_pr.plot(grid, np.mean(precisions, axis=0), **style)
        ax_roc.plot(grid, np.mean(tprs, axis=0), **style)
    base_rate = float(np.mean(test_labels))
    ax_pr.axhline(base_rate, color="grey", lw=0.8, ls=":", label=f"chance ({base_rate:.2f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax_pr.set(title="Precision-recall (test, mean over seeds)", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax_roc.set(title="ROC (test, mean over seeds)", xlabel="false positive rate", ylabel="true positive rate")
    ax_pr.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_metric_bars(metrics: Any, columns: Sequence[tuple[str, str]] = (("PR-AUC", "0.5"), ("recall", "0.5"), ("recall", "tuned"))) -> Any:
    """Bar chart of mean ± sd over seeds per model for the given (metric, threshold rule) pairs."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(metrics["model"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 0.35 * len(models) + 1.5), sharey=True)
    for ax, (metric, rule) in zip(np.atleast_1d(axes), columns):
        g = metrics[metrics["rule"] == rule].groupby("model", sort=False)[metric]
        stats = [mean_sd(g.get_group(m)) for m in models]
        mean, sd = [s[0] for s in stats], [0.0 if np.isnan(s[1]) else s[1] for s in stats]  # one run: no error bar
        ax.barh(models, mean, xerr=sd, color=[f"C{i % 10}" for i in range(len(models))], capsize=3)
        ax.set(title=metric if metric in ("PR-AUC", "ROC-AUC") else f"{metric} @ {rule}", xlim=(0, 1))
    np.atleast_1d(axes)[0].invert_yaxis()
    fig.tight_layout()
    return fig
