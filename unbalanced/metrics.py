"""Scoring trained models: threshold-free and thresholded test metrics, threshold rules, and mean ± sd over runs."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .training import ModelRun


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of per-run values; the sd of a single run is NaN (undefined), never 0."""
    x = np.asarray(values, dtype=float)
    return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")


def format_mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """'mean ± sd' over runs, or 'value (1 run)' where one run gives no spread."""
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f} (1 run)"


def evaluation_row(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Compute counts and scikit-learn metrics for one model's scores at `threshold`."""
    from sklearn import metrics as skm

    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "TP": int(tp),
        "FP": int(fp),
        "TN": int(tn),
        "FN": int(fn),
        "accuracy": skm.accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "F1": skm.f1_score(labels, predicted, zero_division=0),
        "balanced accuracy": skm.balanced_accuracy_score(labels, predicted),
        "ROC-AUC": skm.roc_auc_score(labels, scores) if both_classes else float("nan"),
        "PR-AUC": skm.average_precision_score(labels, scores) if both_classes else float("nan"),
    }


def threshold_best_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    """Return the score threshold (predict positive at >= threshold) with the highest F1 on these labels."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def threshold_for_recall(labels: np.ndarray, scores: np.ndarray, target_recall: float) -> float:
    """Lower the threshold from the top score until recall reaches `target_recall`; return that threshold."""
    from sklearn.metrics import precision_recall_curve

    _, recall, thresholds = precision_recall_curve(labels, scores)
    reaching = np.flatnonzero(recall[:-1] >= target_recall)  # thresholds ascend, recall descends
    return float(thresholds[reaching[-1]])


def prior_shift_threshold(train_prior: float, target_prior: float = 0.5) -> float:
    """Threshold on a model trained at positive prior `train_prior` equal to 0.5 after correcting to `target_prior`."""
    a = train_prior * (1.0 - target_prior)
    return a / (a + target_prior * (1.0 - train_prior))


THRESHOLD_RULES = ("0.5", "tuned")  # tuned: the best-F1 threshold on the validation set
SUMMARY_METRICS = ("PR-AUC", "ROC-AUC", "recall", "precision", "F1", "balanced accuracy")


def run_metrics(
    runs: Sequence[ModelRun],
    val_labels: np.ndarray,
    test_labels: np.ndarray,
    extra_rules: Mapping[str, Callable[[ModelRun], float]] | None = None,
) -> Any:
    """Return one row per (model, seed, threshold rule) of test metrics; 'tuned' is the best-F1 threshold on validation."""
    import pandas as pd

    rows = []
    for run in runs:
        thresholds = {"0.5": 0.5, "tuned": threshold_best_f1(val_labels, run.val_scores)}
        thresholds.update({name: rule(run) for name, rule in (extra_rules or {}).items()})
        for rule, t in thresholds.items():
            rows.append({"model": run.model, "seed": run.seed, "rule": rule, "threshold": t,
                         **evaluation_row(test_labels, run.test_scores, t)})  # fmt: skip
    return pd.DataFrame(rows)


def rule_table(metrics: Any, columns: Sequence[str] = ("threshold", "precision", "recall", "F1", "balanced accuracy")) -> Any:
    """Summarise test metrics per threshold rule as 'mean ± sd' over seeds."""
    import pandas as pd

    grouped = metrics.groupby("rule", sort=False)
    table = pd.DataFrame({c: grouped[c].apply(format_mean_sd) for c in columns})
    table.insert(0, "seeds", grouped["seed"].nunique())
    return table


def mean_std_table(metrics: Any, digits: int = 3) -> Any:
    """Summarise per-seed metrics as 'mean ± sd' per model: threshold-free metrics once, the others per threshold rule."""
    import pandas as pd

    columns: dict[str, Any] = {}
    fmt = lambda values: format_mean_sd(values, digits)  # noqa: E731
    first = metrics[metrics["rule"] == "0.5"].groupby("model", sort=False)
    for col in ("PR-AUC", "ROC-AUC"):
        columns[col] = first[col].apply(fmt)
    for rule in THRESHOLD_RULES:
        sub = metrics[metrics["rule"] == rule].groupby("model", sort=False)
        for col in SUMMARY_METRICS[2:]:
            columns[f"{col} @{rule}"] = sub[col].apply(fmt)
    table = pd.DataFrame(columns)
    table.insert(0, "seeds", metrics.groupby("model", sort=False)["seed"].nunique())
    return table.reindex(list(dict.fromkeys(metrics["model"])))


def fast_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC from the rank sum of the positives (ties share ranks); equals sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fast_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision over distinct thresholds; equals sklearn's average_precision_score.

    Written out because the bootstraps call it thousands of times, where scikit-learn's input checks dominate.
    """
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1 - y)[last_of_tie]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))
