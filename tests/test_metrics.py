"""Tests for unbalanced/metrics.py: AP and ROC-AUC against scikit-learn, operating points with ties and undefined
precision, mean ± sd for one run, and choosing a setting from validation alone."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import fake_record
from sklearn.metrics import average_precision_score, roc_auc_score

from unbalanced.metrics import (
    average_precision,
    ap_rows,
    at_threshold_rows,
    auc_rows,
    best_f1_threshold,
    choose_setting,
    format_mean_sd,
    long_table,
    mean_sd,
    operating_point,
    prior_corrected_threshold,
    recall_threshold,
    record_metrics,
    roc_auc,
    summary_table,
)
from unbalanced.storage import json_safe
from unbalanced.training import baseline, class_weight


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_and_roc_auc_equal_scikit_learn_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.1).astype(int)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # rounding makes many ties
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    weights = np.stack([np.ones(300), rng.integers(0, 4, 300) * np.where(labels == 1, 1.0, 3.0), rng.random(300)])
    for score_list in (scores, np.ones(300)):  # with ties, and all tied
        ap = [average_precision_score(labels, score_list, sample_weight=w) for w in weights]
        auc = [roc_auc_score(labels, score_list, sample_weight=w) for w in weights]
        np.testing.assert_allclose(ap_rows(labels, score_list, weights), ap, atol=1e-12)
        np.testing.assert_allclose(auc_rows(labels, score_list, weights), auc, atol=1e-12)


def test_weighted_operating_point_rows_by_hand():
    labels, scores = np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.6, 0.7, 0.4, 0.9])
    rows = at_threshold_rows(labels, scores, np.array([[1, 1, 1, 1, 1], [2, 2, 2, 1, 1], [1, 0, 0, 1, 1]], float), 0.5)
    np.testing.assert_allclose(rows["recall"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(rows["precision"], [1 / 3, 1 / 5, 1.0])  # the flagged cats weigh 2 each in the second row
    np.testing.assert_allclose(rows["accuracy"], [2 / 5, 3 / 8, 2 / 3])
    assert np.isnan(at_threshold_rows(labels, scores, np.ones((1, 5)), 0.95)["precision"][0])


def test_roc_auc_of_a_one_class_test_set_is_undefined_and_survives_json():
    assert math.isnan(roc_auc(np.zeros(5), np.linspace(0, 1, 5)))
    assert json.loads(json.dumps(json_safe({"ROC-AUC": float("nan")}))) == {"ROC-AUC": None}


def test_operating_point_by_hand_a_score_at_the_threshold_is_positive():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.7, 0.3, 0.1, 0.05, 0.4])
    point = operating_point(labels, scores, 0.5)
    assert (point["TP"], point["FP"], point["FN"]) == (2, 1, 1)  # 0.5 itself counts as positive
    assert point["precision"] == pytest.approx(2 / 3) and point["recall"] == pytest.approx(2 / 3) and point["F1"] == pytest.approx(2 / 3)


def test_precision_is_undefined_not_zero_when_nothing_is_predicted_positive():
    point = operating_point(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]), 0.5)
    assert math.isnan(point["precision"]) and point["recall"] == 0.0
    assert format_mean_sd([float("nan"), float("nan")]) == "n/a"
    assert format_mean_sd([0.5, float("nan"), 0.7]) == "0.600 ± 0.141, n/a in 1 of 3"


def test_thresholds_by_hand_with_ties():
    labels = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    # F1 at >= 0.8: P 1, R 2/3, F1 0.8; at >= 0.6: P 3/4, R 1, F1 6/7 (the best)
    assert best_f1_threshold(labels, scores) == 0.6
    assert recall_threshold(labels, scores, 0.6) == 0.8  # the highest threshold with recall >= 0.6
    assert recall_threshold(labels, scores, 1.0) == 0.6
    tied = np.array([1, 0, 0, 1])  # F1 is 2/3 at both 0.9 (P 1, R 1/2) and 0.2 (P 1/2, R 1): the higher is kept
    assert best_f1_threshold(tied, np.array([0.9, 0.8, 0.3, 0.2])) == 0.9
    same_score = np.array([1, 0, 1, 0])  # two positives share a score: recall jumps from 0 to 1 there
    assert recall_threshold(same_score, np.array([0.7, 0.2, 0.7, 0.1]), 0.5) == 0.7


def test_prior_correction_by_hand():
    assert prior_corrected_threshold(0.5, 0.5) == 0.5
    assert prior_corrected_threshold(100 / 1100, 100 / 1100) == pytest.approx(0.5)  # trained at the deployment ratio
    # trained balanced, deployed at 1 : 10: odds 1 become 1/10, so the posterior reaches 0.5 where the score's odds are 10
    assert prior_corrected_threshold(0.5, 1 / 11) == pytest.approx(10 / 11)


def test_mean_sd_of_one_run_has_no_spread_and_says_so():
    assert mean_sd([0.4]) == (0.4, pytest.approx(float("nan"), nan_ok=True))
    assert format_mean_sd([0.4]) == "0.400 (1 run)"
    assert format_mean_sd([0.3, 0.5]) == "0.400 ± 0.141"


def _records_of(recipe, val_scores_by_split, seeds=(1,)):
    labels = np.array([0, 0, 1, 1])
    return [fake_record(recipe, split, seed, (labels, np.array(v)), (labels, np.full(4, np.nan)))
            for split, v in enumerate(val_scores_by_split) for seed in seeds]  # fmt: skip


GOOD, POOR = [0.1, 0.2, 0.8, 0.9], [0.9, 0.8, 0.1, 0.2]  # validation AP 1.0 and 0.417


def test_the_tuning_phase_freezes_the_setting_with_the_best_mean_validation_ap():
    weak = _records_of(class_weight(3), [GOOD, POOR, POOR])
    strong = _records_of(class_weight(10), [POOR, GOOD, GOOD])
    assert choose_setting(weak + strong) == class_weight(10)  # the test scores are NaN: reading them would show
    assert choose_setting(weak + _records_of(class_weight(10), [POOR, GOOD, POOR])) == class_weight(3)  # a tie keeps the first
    assert choose_setting(_records_of(class_weight(10), [POOR]) + _records_of(class_weight(3), [GOOD], seeds=(1, 2))) == class_weight(3)


def test_record_metrics_names_models_by_group_and_the_summary_counts_runs():
    labels = np.array([0, 0, 0, 1, 1])
    records = [fake_record(r, run, 1, (labels, s), (labels, s)) for run in (0, 1)
               for r, s in ((baseline(), np.array([0.1, 0.2, 0.3, 0.4, 0.45])), (class_weight(3), np.array([0.3, 0.5, 0.2, 0.9, 0.8])))]  # fmt: skip
    metrics = record_metrics({"baseline": records[::2], "class weights": records[1::2]})
    table = summary_table(metrics)
    assert list(table.index) == ["baseline", "class weights"] and list(table.columns)[:2] == ["AP", "ROC-AUC"]
    assert table.loc["class weights", "AP"] == "1.000 ± 0.000" and table.loc["baseline", "AP"] == "1.000 ± 0.000"
    # prior 0.1 in training, 0.4 in validation: the corrected threshold is 0.06 / 0.42 = 0.143
    table = summary_table(metrics, points=("prior-corrected",), columns=("precision",))
    assert table.loc["baseline", "precision (threshold prior-corrected)"] == "0.500 ± 0.000"  # 4 scores reach it, 2 positives
    assert table.loc["class weights", "precision (threshold prior-corrected)"] == "0.400 ± 0.000"  # all 5 reach it
    long = long_table(metrics)
    assert len(long) == 2 * 4 and long.loc[("baseline", "prior-corrected"), "precision"] == "0.500 ± 0.000"
