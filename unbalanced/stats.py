"""Comparing models: paired bootstrap intervals over test images and the seed-spread screen."""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import fast_average_precision, fast_roc_auc, mean_sd


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: str = "PR-AUC",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Return metric(a) - metric(b) on the test set and its 95% paired, class-stratified bootstrap interval."""
    fn = {"PR-AUC": fast_average_precision, "ROC-AUC": fast_roc_auc}[metric]
    labels = np.asarray(labels).astype(int)
    a, b = np.asarray(scores_a), np.asarray(scores_b)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])  # both classes in every resample
        diffs[i] = fn(labels[idx], a[idx]) - fn(labels[idx], b[idx])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(fn(labels, a) - fn(labels, b)), float(low), float(high)


def describe_difference(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "PR-AUC") -> str:
    """Say in one sentence whether a paired difference is larger than test-set noise."""
    verdict = (
        "larger than test-set noise (the 95% interval excludes 0)"
        if low > 0 or high < 0
        else "within test-set noise (the 95% interval includes 0)"
    )
    return f"{metric} {name_a} − {name_b}: {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f}), {verdict}."


def spread_verdict(metrics: Any, metric: str = "PR-AUC", reference: str | None = None) -> list[str]:
    """Say, for each model against the reference (default: the best by mean), whether the gap exceeds the seed spread."""
    per_model = metrics[metrics["rule"] == "0.5"].groupby("model", sort=False)[metric]
    summary = {model: mean_sd(values) for model, values in per_model}
    counts = per_model.size()
    reference = reference or max(summary, key=lambda m: summary[m][0])
    ref_mean, ref_sd = summary[reference]
    lines = [f"Reference: {reference}, {metric} {ref_mean:.3f} ± {ref_sd:.3f} over {counts[reference]} seed(s)."]
    for model in sorted(summary, key=lambda m: -summary[m][0]):
        if model == reference:
            continue
        mean, sd = summary[model]
        gap = mean - ref_mean
        if np.isnan(sd) or np.isnan(ref_sd):
            verdict = "too few seeds to judge (one run gives no spread)"
        elif abs(gap) > sd + ref_sd:
            verdict = "larger than the seed-to-seed spread"
        else:
            verdict = "within the seed-to-seed spread"
        lines.append(f"{model}: {gap:+.3f} against {reference}, {verdict}.")
    return lines
