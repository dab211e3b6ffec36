"""Figures, one per question: the photos, augmented copies, a remedy's validation search, paired gains with their
intervals, average precision against chance, thresholds, the focal loss, and the data-size and ratio sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .datasets import augmentation
from .metrics import OPERATING_POINTS, average_precision, mean_sd, thresholds_of
from .stats import BETTER, WORSE, Comparison
from .tasks import Record
from .training import Recipe

VERDICT_COLOURS = {BETTER: "C2", WORSE: "C3"}  # the rest grey


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def plot_sample_grid(files_by_class: Mapping[str, Sequence[Path]], per_class: int = 6, seed: int = 0, image_size: int = 0) -> Any:
    """Show `per_class` randomly chosen images of each class, one row per class; at `image_size` pixels (what the model
    sees) when given."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    fig, axes = _plt().subplots(len(files_by_class), per_class, figsize=(1.5 * per_class, 1.65 * len(files_by_class)), squeeze=False)
    for row, (name, files) in zip(axes, files_by_class.items()):
        picks = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        for ax, i in zip(row, picks):
            with Image.open(files[i]) as im:
                rgb = im.convert("RGB")
                ax.imshow(rgb.resize((image_size, image_size), Image.BOX) if image_size else rgb, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
        row[0].set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_augmented(image: np.ndarray, strengths: Sequence[float], seed: int, copies: int = 5) -> Any:
    """One photo and `copies` augmented versions of it at each strength, one row per strength."""
    plt = _plt()
    fig, axes = plt.subplots(len(strengths), copies + 1, figsize=(1.45 * (copies + 1), 1.55 * len(strengths)), squeeze=False)
    x = image.astype(np.float32)[None] / 255.0
    for row, strength in zip(axes, strengths):
        layer = augmentation(strength, seed)
        for i, ax in enumerate(row):
            shown = x[0] if i == 0 else np.asarray(layer(x, training=True))[0]
            ax.imshow(np.clip(shown, 0, 1))
            ax.set(xticks=[], yticks=[])
        row[0].set_ylabel(f"strength {strength:g}", fontsize=8)
    axes[0][0].set_title("original", fontsize=8)
    fig.tight_layout()
    return fig


def validation_ap(record: Record) -> float:
    """The validation average precision of a record's kept weights."""
    return average_precision(record.val_labels, record.trained.val_scores)


def plot_search(records: Sequence[Record], chosen: Recipe, title: str) -> Any:
    """A remedy's tuning phase: validation AP of each setting, one line per tuning run, the frozen setting ringed."""
    plt = _plt()
    settings = list(dict.fromkeys(r.recipe.setting for r in records))
    fig, ax = plt.subplots(figsize=(1.2 * len(settings) + 3, 3.2))
    runs = sorted({r.run for r in records})
    for run in runs:
        ys = [validation_ap(next(r for r in records if r.run == run and r.recipe.setting == s)) for s in settings]
        ax.plot(range(len(settings)), ys, "-o", color="0.6", lw=1, ms=3)
    mean = [np.mean([validation_ap(r) for r in records if r.recipe.setting == s]) for s in settings]
    ax.plot(range(len(settings)), mean, "-", color="C0", lw=2.5, label=f"mean over {len(runs)} tuning runs")
    k = settings.index(chosen.setting)
    ax.plot(k, mean[k], "o", ms=12, mfc="none", mec="C1", mew=2, label="frozen for the confirmation")
    ax.set(xticks=range(len(settings)), xticklabels=settings, ylabel="validation AP", title=title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_gains(comparisons: Sequence[Comparison], per_run: Mapping[str, Sequence[float]], title: str = "") -> Any:
    """Each remedy's paired gain in test AP over the baseline: every run as a dot, the mean with its 95 % interval."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(comparisons) + 1.4))
    for i, c in enumerate(comparisons):
        colour = VERDICT_COLOURS.get(c.verdict, "0.35")
        ax.plot(per_run.get(c.remedy, []), [i] * len(per_run.get(c.remedy, [])), "o", color="0.7", ms=4, zorder=1)
        if np.isfinite(c.low):
            ax.plot([c.low, c.high], [i, i], "-", color=colour, lw=2.5, zorder=2)
        ax.plot(c.difference, i, "D", color=colour, ms=7, zorder=3)
    ax.axvline(0, color="0.3", lw=0.8, ls=":")
    ax.set(yticks=range(len(comparisons)), yticklabels=[c.remedy for c in comparisons], ylim=(len(comparisons) - 0.5, -0.5),
           xlabel="test AP, remedy − baseline (dots: paired runs; bar: 95 % interval)", title=title)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_ap(metrics: Any, chance: float, title: str = "") -> Any:
    """Mean test AP per model (± sd over runs, and every run as a dot) against the chance level, the positive share."""
    plt = _plt()
    first = metrics[metrics["operating point"] == OPERATING_POINTS[0]]
    models = list(dict.fromkeys(first["model"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(models) + 1.4))
    top = 0.0
    for i, m in enumerate(models):
        values = first.loc[first["model"] == m, "AP"].to_numpy()
        mean, sd = mean_sd(values)
        ax.barh(i, mean, xerr=0 if np.isnan(sd) else sd, color=f"C{i % 10}", alpha=0.75, capsize=3)
        ax.plot(values, [i] * len(values), "o", color="0.2", ms=3)
        top = max(top, float(values.max()))
    ax.axvline(chance, color="0.3", ls="--", lw=1)
    ax.text(chance, len(models) - 0.4, f" chance ({100 * chance:.1f} %)", fontsize=8, va="bottom", color="0.3")
    ax.set(yticks=range(len(models)), yticklabels=models, ylim=(len(models) - 0.5 + 0.4, -0.6), xlim=(0, min(1.0, top * 1.15 + 0.02)),
           xlabel="test average precision", title=title)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_threshold_sweep(records: Sequence[Record], target_recall: float) -> Any:
    """Precision and recall against the threshold on validation, for one model per panel (first run), with the
    operating points the study reports marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(records), figsize=(5.2 * len(records), 3.4), squeeze=False)
    grid = np.linspace(0.0, 1.0, 201)
    for ax, r in zip(axes[0], records):
        labels, scores = r.val_labels.astype(bool), r.trained.val_scores
        predicted = scores[None, :] >= grid[:, None]
        tp = (predicted & labels).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted.sum(1) > 0, tp / predicted.sum(1), np.nan)
        ax.plot(grid, precision, color="C0", label="precision")
        ax.plot(grid, tp / labels.sum(), color="C1", label="recall")
        for k, (point, t) in enumerate(thresholds_of(r, target_recall, float(np.mean(r.val_labels))).items()):
            ax.axvline(t, color=f"C{k + 2}", ls="--", lw=1, label=f"{point} ({t:.2f})")
        ax.set(title=f"{r.label}: validation, split {r.split_seed}, seed {r.seed}", xlabel="threshold", ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    return fig


def plot_focal_loss(gammas: Sequence[float]) -> Any:
    """Focal loss against the probability given to the true class, for several γ (γ = 0 is cross-entropy)."""
    plt = _plt()
    p = np.linspace(0.01, 1.0, 200)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for g in sorted(set([0.0, *gammas])):
        ax.plot(p, -((1 - p) ** g) * np.log(p), label="cross-entropy (γ = 0)" if g == 0 else f"γ = {g:g}")
    ax.set(xlabel="probability of the true class", ylabel="loss", ylim=(0, 3), title="Well-classified examples count less as γ grows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_training_curves(records: Sequence[Record], title: str) -> Any:
    """Training loss and validation AP per epoch, one colour per paired run; the dot marks the kept epoch."""
    plt = _plt()
    fig, (ax_loss, ax_ap) = plt.subplots(1, 2, figsize=(10, 3.1))
    for i, r in enumerate(records):
        epochs = np.arange(1, len(r.trained.history["loss"]) + 1)
        ax_loss.plot(epochs, r.trained.history["loss"], color=f"C{i}", label=f"split {r.split_seed}, seed {r.seed}")
        ax_ap.plot(epochs, r.trained.history["val_ap"], color=f"C{i}")
        ax_ap.plot(r.trained.best_epoch, r.trained.history["val_ap"][r.trained.best_epoch - 1], "o", color=f"C{i}")
    ax_loss.set(title=f"{title}: training loss", xlabel="epoch")
    ax_ap.set(title=f"{title}: validation AP (dot: weights kept)", xlabel="epoch")
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_sweep(x: Sequence[float], ap: Mapping[str, Sequence[Sequence[float]]], gains: Mapping[str, Sequence[Comparison]],
               xlabel: str, log_x: bool = False, chance: Sequence[float] | None = None, tick: str = "{:,g}") -> Any:  # fmt: skip
    """Left: test AP of each model against x (mean, with every run as a dot). Right: each remedy's paired gain over the
    baseline against x, with its 95 % interval where there are enough runs."""
    plt = _plt()
    fig, (ax_ap, ax_gain) = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, (model, per_x) in enumerate(ap.items()):
        ax_ap.plot(x, [np.mean(v) for v in per_x], "-o", color=f"C{i}", label=model)
        for xv, v in zip(x, per_x):
            ax_ap.plot([xv] * len(v), v, ".", color=f"C{i}", alpha=0.35)
    if chance is not None:
        ax_ap.plot(x, chance, ":", color="0.4", label="chance")
    offsets = np.linspace(-0.04, 0.04, max(1, len(gains)))
    for k, (remedy, comparisons) in enumerate(gains.items()):
        colour = f"C{list(ap).index(remedy) if remedy in ap else k + 1}"
        xs = np.asarray(x, float) * (10 ** offsets[k] if log_x else 1) + (0 if log_x else offsets[k] * (max(x) - min(x)))
        ax_gain.plot(xs, [c.difference for c in comparisons], "-D", color=colour, label=remedy, ms=5)
        for xv, c in zip(xs, comparisons):
            if np.isfinite(c.low):
                ax_gain.plot([xv, xv], [c.low, c.high], "-", color=colour, lw=1.5)
    ax_gain.axhline(0, color="0.3", lw=0.8, ls=":")
    for ax in (ax_ap, ax_gain):
        ax.set_xlabel(xlabel)
        if log_x:
            ax.set_xscale("log")
            ax.minorticks_off()
        ax.set_xticks(list(x), [tick.format(v) for v in x])  # as a reader says them: 1 : 10, not 10¹
        ax.legend(fontsize=7)
    ax_ap.set(ylabel="test AP", title="Average precision")
    ax_gain.set(ylabel="AP, remedy − baseline", title="Paired gain over the baseline (95 % interval before Holm's correction)")
    fig.tight_layout()
    return fig


def plot_confusion_matrices(records: Record | Sequence[Record], target_recall: float, class_names: Sequence[str],
                            points: Sequence[str] = ()) -> Any:  # fmt: skip
    """The test set's confusion matrix at each operating point (or at the `points` named) of one model, or of several,
    one row each: a seaborn heatmap per matrix."""
    import seaborn as sns

    plt = _plt()
    records = [records] if isinstance(records, Record) else list(records)
    rows = []
    for record in records:
        thresholds = thresholds_of(record, target_recall, float(np.mean(record.val_labels)))
        rows.append((record, {k: v for k, v in thresholds.items() if k in points} if points else thresholds))
    columns = max(len(t) for _, t in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(3.3 * columns, 3.1 * len(rows)), squeeze=False)
    for row, (record, thresholds) in zip(axes, rows):
        labels = record.test_labels.astype(int)
        for ax, (point, t) in zip(row, thresholds.items()):
            predicted = (record.trained.test_scores >= t).astype(int)
            matrix = np.array([[np.sum((labels == a) & (predicted == b)) for b in (0, 1)] for a in (0, 1)])
            sns.heatmap(matrix, annot=True, fmt="d", cmap="rocket_r", cbar=False, ax=ax, xticklabels=class_names,
                        yticklabels=class_names)  # fmt: skip
            title = f"{point}\n(threshold {t:.3f})"
            ax.set(title=title if len(rows) == 1 else f"{record.label}, {title}", xlabel="predicted",
                   ylabel="truth" if ax is row[0] else "")  # fmt: skip
    splits = sorted({r.split_seed for r in records})
    name = records[0].label if len(records) == 1 else "each model"
    fig.suptitle(f"{name}: test photos, split {', '.join(map(str, splits))}", fontsize=10)
    fig.tight_layout()
    return fig


def typical_run(records: Sequence[Record]) -> tuple[int, int]:
    """The paired run whose test AP is the median of these records' (the lower middle one for an even count)."""
    from .metrics import ap_rows, deployment_weights

    aps = sorted((ap_rows(r.test_labels, r.trained.test_scores, deployment_weights(r.test_labels, r.val_labels))[0], r.run) for r in records)
    return aps[(len(aps) - 1) // 2][1]


def plot_curves(groups: Mapping[str, Sequence[Record]], run: tuple[int, int], chance: float) -> Any:
    """Precision-recall (at the deployment prior) and ROC curves on the test photos, one line per model, for one paired
    run: the classic pictures of what each model does at every threshold."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from .metrics import deployment_weights

    plt = _plt()
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, records in groups.items():
        r = next(x for x in records if x.run == run)
        weights = deployment_weights(r.test_labels, r.val_labels)
        precision, recall, _ = precision_recall_curve(r.test_labels, r.trained.test_scores, sample_weight=weights)
        ax_pr.plot(recall, precision, lw=1.5, label=name, drawstyle="steps-post")
        fpr, tpr, _ = roc_curve(r.test_labels, r.trained.test_scores)
        ax_roc.plot(fpr, tpr, lw=1.5, label=name)
    ax_pr.axhline(chance, color="0.4", ls=":", lw=1, label=f"chance ({chance:.3f})")
    ax_roc.plot([0, 1], [0, 1], color="0.4", ls=":", lw=1, label="chance")
    ax_pr.set(xlabel="recall", ylabel="precision (at the deployment ratio)", xlim=(0, 1), ylim=(0, 1), title="Precision against recall")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1), title="ROC")
    ax_pr.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Test photos, split {run[0]} (the run whose baseline AP is the median)", fontsize=10)
    fig.tight_layout()
    return fig
