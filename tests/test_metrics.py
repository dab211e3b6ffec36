"""Tests for unbalanced/metrics.py: test metrics, thresholds and mean ± sd."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_runs
from sklearn.metrics import average_precision_score, roc_auc_score

from unbalanced.metrics import (
    evaluation_row,
    fast_average_precision,
    fast_roc_auc,
    mean_std_table,
    prior_shift_threshold,
    rule_table,
    run_metrics,
    threshold_best_f1,
    threshold_for_recall,
)
from unbalanced.stats import spread_verdict


def test_evaluation_row_on_a_hand_made_example():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05, 0.4])
    row = evaluation_row(labels, scores, threshold=0.5)
    assert (row["TP"], row["FP"], row["TN"], row["FN"]) == (2, 1, 4, 1)
    assert row["accuracy"] == pytest.approx(6 / 8)
    assert row["precision"] == pytest.approx(2 / 3) and row["recall"] == pytest.approx(2 / 3)
    assert row["F1"] == pytest.approx(2 / 3)
    assert row["balanced accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert row["ROC-AUC"] == pytest.approx(11 / 15)  # 11 of the 15 positive-negative pairs ranked right
    assert row["PR-AUC"] == pytest.approx(average_precision_score(labels, scores))


def test_all_negative_predictions_give_zero_precision_not_an_error():
    row = evaluation_row(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]))
    assert row["precision"] == 0.0 and row["recall"] == 0.0 and row["TP"] == 0


def test_threshold_selection_on_a_hand_made_example():
    labels = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    # F1 at >=0.8: 2/3*... -> P=1, R=2/3, F1=0.8; at >=0.6: P=3/4, R=1, F1=0.857 (best)
    assert threshold_best_f1(labels, scores) == 0.6
    assert threshold_for_recall(labels, scores, 0.6) == 0.8  # the highest threshold with recall >= 0.6
    assert threshold_for_recall(labels, scores, 1.0) == 0.6
    assert threshold_for_recall(labels, scores, 0.3) == 0.9


def test_prior_shift_threshold_matches_bayes_correction():
    assert prior_shift_threshold(0.1, 0.5) == pytest.approx(0.1)
    assert prior_shift_threshold(0.5, 0.5) == pytest.approx(0.5)
    pi, t = 0.2, 0.05
    thr = prior_shift_threshold(pi, t)
    corrected = thr * t / pi / (thr * t / pi + (1 - thr) * (1 - t) / (1 - pi))  # posterior moved to prior t
    assert corrected == pytest.approx(0.5)


def test_run_metrics_rows_and_tuned_threshold_from_validation():
    runs, val, test = model_runs()
    metrics = run_metrics(runs, val, test, {"fixed 0.3": lambda r: 0.3})
    assert len(metrics) == 6 * 3 and set(metrics["rule"]) == {"0.5", "tuned", "fixed 0.3"}
    tuned = metrics[(metrics["rule"] == "tuned") & (metrics["seed"] == 1) & (metrics["model"] == "good")]
    assert tuned["threshold"].item() == threshold_best_f1(val, runs[0].val_scores)
    row = metrics[(metrics["rule"] == "0.5") & (metrics["seed"] == 2) & (metrics["model"] == "poor")].iloc[0]
    assert row["PR-AUC"] == pytest.approx(average_precision_score(test, runs[3].test_scores))


def test_mean_std_table_and_spread_verdict():
    runs, val, test = model_runs()
    metrics = run_metrics(runs, val, test)
    table = mean_std_table(metrics)
    assert list(table.index) == ["good", "poor"] and table.loc["good", "seeds"] == 3
    values = metrics[(metrics["rule"] == "0.5") & (metrics["model"] == "good")]["PR-AUC"]
    assert table.loc["good", "PR-AUC"] == f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"
    assert "recall @tuned" in table.columns and "recall @0.5" in table.columns
    lines = spread_verdict(metrics)
    assert lines[0].startswith("Reference: good") and "poor" in lines[1] and "larger than" in lines[1]
    close = metrics[metrics["rule"] == "0.5"].copy()
    close.loc[close["model"] == "poor", "PR-AUC"] = close.loc[close["model"] == "good", "PR-AUC"].to_numpy() + [0.02, -0.02, 0.0]
    assert "within" in spread_verdict(close, reference="good")[1]


def test_rule_table_summarises_each_rule():
    runs, val, test = model_runs()
    table = rule_table(run_metrics(runs[:1], val, test))
    assert list(table.index) == ["0.5", "tuned"] and table.loc["0.5", "threshold"] == "0.500 (1 run)"  # one run has no spread, not a spread of 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_auc_functions_equal_sklearn_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.1).astype(int)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # rounding makes many ties
    assert fast_roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert fast_average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
