"""Scoring trained models: average precision and ROC-AUC, operating points (thresholds chosen without the test set),
and mean ± sd over runs with one rule for a single run."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .tasks import Record
from .training import Recipe, average_precision

__all__ = ["average_precision"]  # defined in training.py, where early stopping uses it; reported from here

NA = "n/a"


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over runs, NaN values (undefined precision) left out; the sd of one value is
    NaN (undefined), never 0."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if not len(x):
        return float("nan"), float("nan")
    return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else float("nan")


def format_mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """'mean ± sd' over runs; 'value (1 run)' where one run gives no spread; 'n/a' where no run defines it."""
    x = np.asarray(values, dtype=float)
    defined = int((~np.isnan(x)).sum())
    mean, sd = mean_sd(x)
    if not defined:
        return NA
    text = f"{mean:.{digits}f} ± {sd:.{digits}f}" if defined > 1 else f"{mean:.{digits}f} (1 run)"
    return text if defined == len(x) else f"{text}, n/a in {len(x) - defined} of {len(x)}"


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC from the rank sum of the positives (ties share ranks); equals scikit-learn's roc_auc_score."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def negative_weight(test_labels: np.ndarray, val_labels: np.ndarray) -> float:
    """The weight of each test negative that brings the test set to the deployment prior (validation's positive
    share), positives weighing 1: n_pos (1 - prior) / (prior n_neg), so a test block richer in positives scores as the
    deployment ratio would."""
    labels, val = np.asarray(test_labels).astype(bool), np.asarray(val_labels).astype(bool)
    n_pos, n_neg, val_pos, val_neg = int(labels.sum()), int((~labels).sum()), int(val.sum()), int((~val).sum())
    return (n_pos * val_neg) / (val_pos * n_neg)  # in whole counts: 3.0, not 2.9999999999999996


def deployment_weights(test_labels: np.ndarray, val_labels: np.ndarray) -> np.ndarray:
    """Per test image, its weight at the deployment prior: positives 1, negatives `negative_weight`."""
    return np.where(np.asarray(test_labels).astype(bool), 1.0, negative_weight(test_labels, val_labels))


def _ranked(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, negatives_times: float = 1.0) -> tuple[np.ndarray, ...]:
    """For each positive, from the highest score down: its weight, the positives' weight up to the end of its group of
    tied scores, and the negatives' weight before the start and up to the end of that group (rows of `weights`, each
    negative's weight multiplied by `negatives_times`).

    Written out because the comparison rescores every model under a thousand resamples of its test images: one sort
    per model serves them all, and only the positives' columns are gathered after the two running sums. Whole counts
    as float32 (`resample_counts`) are summed exactly in half the memory; the deployment prior's weight multiplies the
    negatives' sums after, so every sum is exact whatever that weight."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order].astype(bool)
    starts = np.r_[True, s[1:] != s[:-1]]
    group = np.cumsum(starts) - 1
    end = np.flatnonzero(np.r_[s[1:] != s[:-1], True])[group][y]  # the end of each positive's group
    start = np.flatnonzero(starts)[group][y]
    n_pos, n_neg = np.cumsum(y), np.cumsum(~y)
    w = _rows(weights)
    pos = np.cumsum(w[:, order[y]], axis=1).astype(float)
    neg = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w[:, order[~y]], axis=1).astype(float) * negatives_times], axis=1)
    own = np.diff(pos, axis=1, prepend=0.0)
    return own, pos[:, n_pos[end] - 1], neg[:, n_neg[start] - ~y[start]], neg[:, n_neg[end]], neg[:, -1:]


def _rows(weights: np.ndarray) -> np.ndarray:
    """Weights as rows: float32 kept, as the resamples' whole counts come (summed exactly up to 2^24; other float32
    weights would be summed in float32's precision, so pass them as float64), anything else as float64."""
    w = np.atleast_2d(np.asarray(weights))
    return w if w.dtype == np.float32 else w.astype(float)


def _in_blocks(rows_of: Any, weights: np.ndarray, size: int = 200) -> np.ndarray:
    """`rows_of` applied to blocks of `size` rows of `weights`, which stay in the processor's cache through the
    running sums (3x faster than all 1,000 resamples at once)."""
    w = _rows(weights)
    return np.concatenate([rows_of(w[i : i + size]) for i in range(0, len(w), size)])


def ap_rows(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, negatives_times: float = 1.0) -> np.ndarray:
    """Weighted average precision for each row of `weights` (one model's fixed scores; rows are resamples of its test
    images as counts), every negative's weight multiplied by `negatives_times` (the deployment prior's
    `negative_weight`): scikit-learn's average_precision_score with sample_weight, vectorised."""

    def rows_of(w: np.ndarray) -> np.ndarray:
        own, tp, _, fp, _ = _ranked(labels, scores, w, negatives_times)
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
        return (own * precision).sum(axis=1) / own.sum(axis=1)

    return _in_blocks(rows_of, weights)


def auc_rows(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, negatives_times: float = 1.0) -> np.ndarray:
    """Weighted ROC-AUC for each row of `weights` (ties count half): scikit-learn's roc_auc_score with sample_weight.
    The negatives' weight multiplies every negative alike, so it cancels: kept for a signature like ap_rows'."""

    def rows_of(w: np.ndarray) -> np.ndarray:
        own, _, before, through, negatives = _ranked(labels, scores, w, negatives_times)
        return (own * (negatives - (before + through) / 2)).sum(axis=1) / (own.sum(axis=1) * negatives[:, 0])

    return _in_blocks(rows_of, weights)


def at_threshold_rows(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float,
                      negatives_times: float = 1.0) -> dict[str, np.ndarray]:  # fmt: skip
    """Weighted recall, precision (NaN where nothing is predicted positive) and accuracy at `threshold` (positive at
    score >= threshold), for each row of `weights`, every negative's weight multiplied by `negatives_times`."""
    y, flagged = np.asarray(labels).astype(bool), np.asarray(scores) >= threshold
    w = _rows(weights)
    # one product with the four groups' indicator columns, not four gathers of every row (about 10x faster at 1,000
    # resamples); with whole counts (float32 from resample_counts) the sums are exact in any order, so no processor's
    # matrix kernel changes them, and the negatives' weight multiplies their exact sums after
    tp, fp, tn, positives = (w @ np.stack([y & flagged, ~y & flagged, ~y & ~flagged, y], axis=1).astype(w.dtype)).T.astype(float)
    fp, tn = fp * negatives_times, tn * negatives_times
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    return {"recall": tp / positives, "precision": precision, "accuracy": (tp + tn) / (positives + fp + tn)}


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The threshold (predict positive at score >= threshold) with the best F1; among ties, the highest threshold."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = np.flatnonzero(f1 == f1.max())
    return float(thresholds[best[-1]])  # thresholds ascend: the last tie is the highest


def recall_threshold(labels: np.ndarray, scores: np.ndarray, target_recall: float) -> float:
    """The highest threshold whose recall still reaches `target_recall`."""
    from sklearn.metrics import precision_recall_curve

    _, recall, thresholds = precision_recall_curve(labels, scores)
    reaching = np.flatnonzero(recall[:-1] >= target_recall)  # thresholds ascend, recall descends
    return float(thresholds[reaching[-1]])


def prior_corrected_threshold(train_prior: float, deploy_prior: float) -> float:
    """The score threshold of a model trained at positive prior `train_prior` whose posterior, corrected to the
    deployment prior (Saerens et al. 2002), is 0.5: predict positive where the corrected posterior is at least 0.5."""
    a = train_prior * (1.0 - deploy_prior)
    return a / (a + deploy_prior * (1.0 - train_prior))


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> dict[str, float]:
    """Counts, precision, recall, F1 and accuracy at `threshold` (positive at score >= threshold); precision is NaN
    (n/a) when nothing is predicted positive. With `weights` (deployment_weights), precision, F1 and accuracy are
    those at the deployment prior; the counts stay counts of test images."""
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(scores) >= threshold
    tp, fp = int((predicted & labels).sum()), int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    wtp, wfp, wfn = w[predicted & labels].sum(), w[predicted & ~labels].sum(), w[~predicted & labels].sum()
    precision = wtp / (wtp + wfp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * wtp / (2 * wtp + wfp + wfn) if tp + fp + fn else float("nan")
    accuracy = float(w[predicted == labels].sum() / w.sum())
    return {"threshold": threshold, "TP": tp, "FP": fp, "FN": fn, "precision": precision, "recall": recall, "F1": f1,
            "accuracy": accuracy}  # fmt: skip


OPERATING_POINTS = ("0.5", "best F1 on validation", "target recall on validation", "prior-corrected")


def thresholds_of(record: Record, target_recall: float, deploy_prior: float) -> dict[str, float]:
    """Each operating point's threshold for one model, chosen from its validation scores or its training prior only."""
    val = record.val_labels, record.trained.val_scores
    return {
        "0.5": 0.5,
        "best F1 on validation": best_f1_threshold(*val),
        "target recall on validation": recall_threshold(*val, target_recall),
        "prior-corrected": prior_corrected_threshold(record.trained.effective_prior, deploy_prior),
    }


def record_metrics(groups: Mapping[str, Sequence[Record]], target_recall: float = 0.8) -> Any:
    """One row per (record, operating point): test AP and ROC-AUC, the threshold and the metrics there.

    `groups` names the models: a remedy's chosen settings form one model across runs. The deployment prior is the
    validation set's positive share, which keeps the deployment ratio; AP, precision, F1 and accuracy are scored at it.
    """
    import pandas as pd

    rows = []
    for model, records in groups.items():
        for r in records:
            weights = deployment_weights(r.test_labels, r.val_labels)
            ap, auc = ap_rows(r.test_labels, r.trained.test_scores, weights)[0], roc_auc(r.test_labels, r.trained.test_scores)
            for point, threshold in thresholds_of(r, target_recall, chance_level(r)).items():
                rows.append({"model": model, "setting": r.recipe.setting, "split": r.split_seed, "seed": r.seed, "AP": ap,
                             "ROC-AUC": auc, "operating point": point, "effective prior": r.trained.effective_prior,
                             "updates": r.trained.updates, **operating_point(r.test_labels, r.trained.test_scores, threshold, weights)})  # fmt: skip
    return pd.DataFrame(rows)


def chance_level(record: Record) -> float:
    """The deployment prior (validation's positive share): the AP of a random ranking, and the precision of flagging
    every photo, at the ratio the test block is scored at."""
    return float(np.mean(record.val_labels))


MAIN_POINTS = ("0.5", "best F1 on validation")


def summary_table(metrics: Any, points: Sequence[str] = MAIN_POINTS, columns: Sequence[str] = ("recall", "precision")) -> Any:
    """Per model, 'mean ± sd' over runs of the test set's AP, ROC-AUC and accuracy at 0.5, then the given metrics at
    each operating point (its threshold chosen without the test set)."""
    import pandas as pd

    models = list(dict.fromkeys(metrics["model"]))
    first = metrics[metrics["operating point"] == OPERATING_POINTS[0]].groupby("model", sort=False)
    table = pd.DataFrame({"AP": first["AP"].apply(format_mean_sd), "ROC-AUC": first["ROC-AUC"].apply(format_mean_sd),
                          "accuracy (threshold 0.5)": first["accuracy"].apply(format_mean_sd)})  # fmt: skip
    for point in points:
        sub = metrics[metrics["operating point"] == point].groupby("model", sort=False)
        for col in columns:
            table[f"{col} (threshold {point})"] = sub[col].apply(format_mean_sd)
    return table.reindex(models)


def at_point(metrics: Any, model: str, point: str, column: str) -> str:
    """'mean ± sd' over runs of one model's column at one operating point of a record_metrics table."""
    rows = metrics[(metrics["model"] == model) & (metrics["operating point"] == point)]
    return format_mean_sd(rows[column])


def long_table(metrics: Any) -> Any:
    """Every model at every operating point, one row each: threshold, precision, recall and F1, 'mean ± sd' over runs."""
    import pandas as pd

    grouped = metrics.groupby(["model", "operating point"], sort=False)
    return pd.DataFrame({c: grouped[c].apply(format_mean_sd) for c in ("threshold", "precision", "recall", "F1")})


def operating_point_table(metrics: Any, model: str) -> Any:
    """For one model, per operating point: threshold, precision, recall and F1 as 'mean ± sd' over runs."""
    import pandas as pd

    sub = metrics[metrics["model"] == model].groupby("operating point", sort=False)
    return pd.DataFrame({c: sub[c].apply(format_mean_sd) for c in ("threshold", "precision", "recall", "F1")})


def choose_setting(records: Sequence[Record]) -> Recipe:
    """The tuning phase's choice: the setting with the best mean validation AP over every tuning run (ties: the one
    listed first), frozen before the confirmation runs train. Only validation scores are read.

    The confirmation then trains it on split seeds the tuning never used, so the luck that made a setting win here
    does not travel with it into the comparison."""
    settings = list(dict.fromkeys(r.recipe for r in records))
    mean = {s: np.mean([average_precision(r.val_labels, r.trained.val_scores) for r in records if r.recipe == s]) for s in settings}
    return max(settings, key=lambda s: (mean[s], -settings.index(s)))
