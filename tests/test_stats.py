"""Tests for unbalanced/stats.py, with known answers: without the image term the comparison is scipy's one-sample t
on the split means; the image term is the shared test images' covariance, counted once; under no true difference its
p-values are uniform (a test that fails both a procedure that never rejects and one that rejects too often); a planted
effect is found; the detectable difference is the one the power function gives 80 % for; Holm by hand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import PROTOCOL, fake_record, scored_runs
from scipy import stats as sps

from unbalanced.metrics import at_threshold_rows, average_precision, choose_setting, deployment_weights, roc_auc
from unbalanced.stats import (
    BETTER,
    NO_DIFFERENCE,
    PENDING,
    p_text,
    TOO_FEW,
    WORSE,
    Comparison,
    compare,
    degrees_of_freedom,
    estimate,
    holm,
    metric_rows,
    minimum_detectable,
    paired,
    paired_differences,
    power_of,
    resample_counts,
    score_of,
    signed,
)
from unbalanced.training import Recipe, class_weight


def split_means(base, remedy) -> np.ndarray:
    """Per split seed, the mean over its seeds of the paired AP differences, computed by hand."""
    by_split: dict[int, list[float]] = {}
    for b, r in paired(base, remedy):
        by_split.setdefault(b.split_seed, []).append(score_of(r) - score_of(b))
    return np.array([np.mean(v) for _, v in sorted(by_split.items())])


def test_without_the_image_term_the_comparison_is_scipys_one_sample_t_on_the_split_means():
    base, remedy = scored_runs(0.2, runs=6, seed=4)
    two_seeds = [replace(r, seed=2, split_seed=r.split_seed % 3) for r in base], [replace(r, seed=2, split_seed=r.split_seed % 3) for r in remedy]
    base = base[:3] + two_seeds[0][3:]  # three splits, each with a second seed: the split means average them
    remedy = remedy[:3] + two_seeds[1][3:]
    c = compare(base, remedy, "remedy", n_boot=0)
    means = split_means(base, remedy)
    t = sps.ttest_1samp(means, 0.0)
    low, high = t.confidence_interval(0.95)
    assert c.splits == 3 and c.runs == 6 and c.difference == pytest.approx(means.mean(), abs=1e-12)
    assert c.p_value == pytest.approx(t.pvalue, rel=1e-9) and c.df == pytest.approx(2)
    assert (c.low, c.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_the_image_term_is_the_mean_covariance_between_splits_and_the_degrees_of_freedom_welch_satterthwaite():
    rng = np.random.default_rng(0)
    values = np.array([0.01, 0.03, -0.02, 0.05])
    shared = rng.normal(0, 0.02, (4000, 1))  # what every split's difference shares under a resample: counted once
    own = rng.normal(0, 0.03, (4000, 4))  # each split's own image noise: already in the spread between splits
    e = estimate(values, shared + own)
    cov = np.cov(shared + own, rowvar=False)
    by_hand = (cov.sum() - np.trace(cov)) / 12
    assert e.se_image**2 == pytest.approx(by_hand) and by_hand == pytest.approx(0.02**2, rel=0.1)
    a = values.var(ddof=1) / 4
    assert e.se == pytest.approx(np.sqrt(a + by_hand)) and e.df == pytest.approx(3 * (1 + by_hand / a))
    low, high = e.interval()
    assert high - e.mean == pytest.approx(sps.t.ppf(0.975, e.df) * e.se)
    assert estimate(values, own).se_image < 0.002  # independent image noise adds (almost) nothing


def test_the_degrees_of_freedom_keep_the_error_rate_near_five_percent_whatever_the_image_share():
    """Gaussian null studies over the share of the image term: the rule must stay near 5 % at 3 splits, where
    Welch-Satterthwaite's (S - 1)(1 + c/a)^2 reaches 7.8 % (the ceiling) and S - 1 alone falls to 1 % (the floor)."""
    rng = np.random.default_rng(0)
    for splits in (3, 5, 10):
        for ratio in (0.0, 0.1, 0.2, 0.5, 1.0, 3.0):
            c = ratio / splits
            d = rng.normal(0, 1, (40000, splits)) + rng.normal(0, np.sqrt(c), (40000, 1))
            a = d.var(axis=1, ddof=1) / splits
            t = np.abs(d.mean(axis=1)) / np.sqrt(a + c)
            rates = [np.mean(2 * sps.t.sf(t, df) < 0.05) for df in (degrees_of_freedom(a, c, splits), (splits - 1) * (1 + c / a) ** 2)]
            assert 0.03 <= rates[0] <= 0.065, (splits, ratio, rates)
            if splits == 3 and ratio == 0.1:
                assert rates[1] > 0.07  # the textbook rule fails here, so this check can fail


def test_the_deployment_weights_score_a_dog_rich_test_block_at_the_validation_ratio():
    labels = np.r_[np.zeros(300, int), np.ones(90, int)]
    weights = deployment_weights(labels, np.r_[np.zeros(100, int), np.ones(10, int)])
    assert set(weights[labels == 0]) == {3.0} and set(weights[labels == 1]) == {1.0}
    scores = np.r_[np.full(300, 0.2), np.full(90, 0.9)]
    scores[:30] = 0.9  # 30 cats flagged with all 90 dogs: at 1 : 10, 90 weighted cats against 90 dogs
    assert at_threshold_rows(labels, scores, weights, 0.5)["precision"][0] == pytest.approx(0.5)


def null_study(rng: np.random.Generator, splits: int, photo_effect: float = 0.6) -> tuple[list, list]:
    """Two recipes of the same quality on one shared test block, each with its own affinity for every test photo: a
    difference on this block is its noise, shared by all of the study's runs."""
    labels = np.r_[np.zeros(300, int), np.ones(60, int)]
    val_labels = np.r_[np.zeros(300, int), np.ones(30, int)]
    difficulty = rng.normal(0, 1, len(labels))
    affinity = {name: rng.normal(0, photo_effect, len(labels)) for name in ("baseline", "other")}
    base, other = [], []
    for split in range(splits):
        for records, name in ((base, "baseline"), (other, "other")):
            q = 1.0 + rng.normal(0, 0.1)
            test = 1 / (1 + np.exp(-(q * labels + difficulty + affinity[name] + rng.normal(0, 0.7, len(labels)))))
            val = 1 / (1 + np.exp(-(q * val_labels + rng.normal(0, 1.2, len(val_labels)))))  # the run's luck, seen on validation too
            records.append(fake_record(Recipe(name), split, 1, (val_labels, val), (labels, test)))
    return base, other


def assert_uniform(p_values: np.ndarray) -> None:
    """p-values under no true difference: uniform (Kolmogorov-Smirnov at 1 %), and a 5 % test rejects 2.5-7.5 % of the
    time with 400 studies' slack (at least 2 %, at most 9 %)."""
    p = np.asarray(p_values)
    assert sps.kstest(p, "uniform").pvalue > 0.01, "p-values under the null are not uniform"
    assert 0.02 <= np.mean(p < 0.05) <= 0.09, f"false-positive rate {np.mean(p < 0.05):.3f} outside 2-9 %"


def test_the_uniformity_check_fails_a_procedure_that_never_rejects_and_one_that_halves_p():
    p = np.random.default_rng(1).random(400)
    assert_uniform(p)
    for broken in (np.ones(400), np.minimum(1, p * 3), p / 2):  # never rejects; too timid; one-sided p as two-sided
        with pytest.raises(AssertionError):
            assert_uniform(broken)


@pytest.mark.slow
@pytest.mark.parametrize(("splits", "photo_effect"), [(4, 0.6), (8, 0.0)])
def test_under_no_true_difference_the_p_values_are_uniform(splits: int, photo_effect: float):
    """400 simulated null studies on a shared test block: with the photo effect the image term carries much of the
    noise; without it, the spread between splits does."""
    rng = np.random.default_rng(splits)
    p = [compare(*null_study(rng, splits, photo_effect), "null", n_boot=200, seed=i).p_value for i in range(400)]
    assert_uniform(np.array(p))


def test_leaving_out_the_image_term_makes_the_shared_test_blocks_noise_look_like_a_finding():
    """The floor for the image term: with a strong photo effect and many splits, a t on the split means alone rejects
    far more than 5 % of null studies, and the full comparison does not."""
    rng = np.random.default_rng(7)
    studies = [null_study(rng, 12, photo_effect=1.2) for _ in range(60)]
    without = np.mean([compare(b, o, "null", n_boot=0).p_value < 0.05 for b, o in studies])
    full = np.mean([compare(b, o, "null", n_boot=200, seed=i).p_value < 0.05 for i, (b, o) in enumerate(studies)])
    assert without > 0.25 and full < 0.15


def test_the_detectable_difference_is_found_with_80_percent_power():
    for se, df, family in ((0.01, float("inf"), 1), (0.01, 30.0, 1), (0.008, 40.0, 6)):
        mde = minimum_detectable(se, df, family)
        assert power_of(mde, se, df, family) == pytest.approx(0.8, abs=0.01)
        assert power_of(0.0, se, df, family) == pytest.approx(0.05 / family, rel=1e-6)  # no effect: alpha / m
    assert minimum_detectable(0.01, float("inf")) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-5)
    assert minimum_detectable(0.01, 30.0, 6) > minimum_detectable(0.01, 30.0, 1)  # Holm's first step is stricter


def test_the_same_recipe_under_two_names_is_never_declared_different():
    base, _ = scored_runs(0.0, runs=4)
    renamed = [replace(r, recipe=Recipe("same recipe, other name")) for r in base]
    c = holm([compare(base, renamed, "renamed", n_boot=200)])[0]
    assert c.difference == 0.0 and c.low == c.high == 0.0 and c.p_value == 1.0 and c.verdict == NO_DIFFERENCE


def test_a_planted_effect_is_found_in_both_directions():
    base, better = scored_runs(1.5, runs=5, seed=1)
    up = holm([compare(base, better, "better", n_boot=300)])[0]
    assert up.verdict == BETTER and up.low > 0 and up.improvement == 1.0 and up.runs == 5 and up.splits == 5
    down = holm([compare(better, base, "worse", n_boot=300)])[0]
    assert down.verdict == WORSE and down.high < 0


def test_comparisons_in_roc_auc_and_at_operating_points_rescore_each_run_by_that_metric():
    base, better = scored_runs(1.5, runs=5, seed=1)
    c = compare(base, better, "better", n_boot=200, metric="ROC-AUC")
    by_hand = np.mean([roc_auc(r.test_labels, r.trained.test_scores) - roc_auc(b.test_labels, b.trained.test_scores)
                       for b, r in zip(base, better)])  # fmt: skip
    ap = compare(base, better, "better", n_boot=200)
    assert c.difference == pytest.approx(by_hand) and c.difference != pytest.approx(ap.difference) and c.low > 0
    assert " ROC-AUC (95 % interval" in c.provisional_sentence() and " AP (95 % interval" in ap.provisional_sentence()
    recall = compare(base, better, "better", n_boot=200, metric="recall at 0.5")
    hand = np.mean([np.mean(r.trained.test_scores[r.test_labels == 1] >= 0.5) - np.mean(b.trained.test_scores[b.test_labels == 1] >= 0.5)
                    for b, r in zip(base, better)])  # fmt: skip
    assert recall.difference == pytest.approx(hand)


def test_a_records_rows_are_computed_from_its_scores_once_and_never_served_for_other_scores():
    from sklearn.metrics import average_precision_score

    base, _ = scored_runs(0.0, runs=1)
    r = base[0]
    counts = resample_counts([r], 50, seed=3)
    assert counts.dtype == np.float32 and (counts == np.round(counts)).all() and (counts.sum(axis=1) == len(r.test_labels)).all()
    weights = counts * deployment_weights(r.test_labels, r.val_labels)
    by_hand = [average_precision_score(r.test_labels, r.trained.test_scores, sample_weight=w) for w in weights]
    rows = metric_rows(r, "AP", 50, seed=3)
    np.testing.assert_allclose(rows, by_hand, rtol=1e-12)
    assert metric_rows(r, "AP", 50, seed=3) is rows and not rows.flags.writeable  # computed once, and read-only
    assert not np.array_equal(metric_rows(r, "AP", 50, seed=4), rows)  # another draw of the test photos
    assert metric_rows(r, "ROC-AUC", 50, seed=3)[0] != rows[0]
    changed = replace(r, trained=replace(r.trained, test_scores=r.trained.test_scores[::-1].copy()))  # same key, other scores
    assert changed.key == r.key and not np.array_equal(metric_rows(changed, "AP", 50, seed=3), rows)
    point = "precision at best F1 on validation"  # its threshold comes from the validation scores
    other_threshold = replace(r, trained=replace(r.trained, val_scores=r.trained.val_scores[::-1].copy()))
    assert not np.array_equal(metric_rows(other_threshold, point, 50, seed=3), metric_rows(r, point, 50, seed=3))
    other_prior = replace(r, val_labels=np.r_[r.val_labels, np.zeros(len(r.val_labels), int)])  # 1 : 21, not 1 : 10
    assert metric_rows(other_prior, "AP", 50, seed=3)[0] < rows[0]


def test_ap_is_scored_at_the_deployment_prior_not_the_test_blocks_share():
    base, _ = scored_runs(0.0, runs=1, n_neg=300, n_pos=90)  # validation at 1 : 10, test at 3 : 10
    r = base[0]
    weighted = score_of(r)
    from sklearn.metrics import average_precision_score

    w = np.where(r.test_labels == 1, 1.0, 3.0)
    assert weighted == pytest.approx(average_precision_score(r.test_labels, r.trained.test_scores, sample_weight=w))
    assert weighted < average_precision(r.test_labels, r.trained.test_scores)  # rarer positives: lower AP


def test_fewer_than_three_splits_are_too_few_to_judge_however_many_seeds():
    base, better = scored_runs(1.5, runs=2)
    c = holm([compare(base, better, "two splits")])[0]
    assert c.verdict == TOO_FEW and np.isnan(c.low) and "too few runs to judge (2 splits; at least 3 independent splits" in c.sentence()
    labels = np.array([0, 0, 1])
    one_split = [fake_record(Recipe(n), 0, seed, (labels, labels * 0.5), (labels, labels * s)) for seed in range(5)
                 for n, s in (("baseline", 0.5), ("remedy", 0.9))]  # fmt: skip
    assert compare(one_split[::2], one_split[1::2], "seeds only").verdict == TOO_FEW


def test_holm_step_down_by_hand():
    make = lambda name, p, d: Comparison(name, 5, 5, d, d - 1, d + 1, p, 0.5, se=0.01, df=4.0)  # noqa: E731
    results = holm([make("a", 0.01, 0.1), make("b", 0.04, -0.1), make("c", 0.03, 0.1), make("d", 0.5, 0.1)])
    # sorted p: 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 -> 0.09 (monotone), 0.5 x 1 = 0.5
    assert [round(c.p_holm, 4) for c in results] == [0.04, 0.09, 0.09, 0.5]
    assert [c.verdict for c in results] == [BETTER, NO_DIFFERENCE, NO_DIFFERENCE, NO_DIFFERENCE]
    assert {c.family for c in results} == {4} and results[0].detectable == pytest.approx(minimum_detectable(0.01, 4.0, 4))


def test_only_runs_of_one_protocol_and_one_test_block_are_paired():
    base, remedy = scored_runs(0.5, runs=3)
    assert [(b.run, r.run) for b, r in paired(base, remedy)] == [((0, 1), (0, 1)), ((1, 1), (1, 1)), ((2, 1), (2, 1))]
    with pytest.raises(ValueError, match="different protocols or test sets"):
        paired(base, [replace(remedy[0], protocol=replace(PROTOCOL, image_size=32))])
    with pytest.raises(ValueError, match="different protocols or test sets"):
        paired(base, [replace(remedy[0], test_fingerprint="other test images")])
    labels = np.array([0, 1])
    lone = fake_record(Recipe("x"), 9, 9, (labels, labels * 1.0), (labels, labels * 1.0))
    with pytest.raises(ValueError, match=r"no baseline record for the paired run\(s\) \[\(9, 9\)\]"):
        paired(base, [lone])
    with pytest.raises(ValueError, match="hold a run twice"):
        paired(base, remedy + remedy[:1])


def test_sentences_state_the_interval_and_the_detectable_difference_and_never_more():
    base, better = scored_runs(1.5, runs=5, seed=1)
    provisional = compare(base, better, "oversampling", n_boot=200)
    assert provisional.verdict == PENDING and BETTER not in provisional.provisional_sentence()
    assert "before the correction across all remedies, which the summary applies" in provisional.provisional_sentence()
    assert f"from its own spread, this run detects a true difference of about ±{provisional.detectable:.3f} AP with 80 % power." in provisional.provisional_sentence()
    c = holm([provisional, replace(provisional, remedy="other")])[0]
    text = c.sentence()
    assert text.startswith("Oversampling: +") and "95 % interval" in text and "higher in 5 of 5 paired runs" in text
    assert f"Holm-adjusted {p_text(c.p_holm)}: {BETTER}; from its own spread, this run detects" in text and "after Holm's correction over 2." in text
    null = replace(c, verdict=NO_DIFFERENCE)
    assert "cannot tell it from the baseline" in null.sentence() and BETTER not in null.sentence()


def test_p_values_print_as_a_reader_writes_them():
    assert p_text(0.0461) == "p = 0.046" and p_text(0.0004) == "p < 0.001" and p_text(0.0005) == "p = 0.001"


def test_differences_print_their_own_sign_even_near_zero():
    assert signed(0.0123) == "+0.012" and signed(-0.0123) == "-0.012" and signed(0.0) == "+0.000"
    assert signed(-0.00047) == "-0.0005" and signed(0.00004) == "+0.00004" and signed(-1e-9) == "+0.000"


def test_paired_differences_are_remedy_minus_baseline_per_run():
    base, better = scored_runs(1.0, runs=3, seed=2)
    assert paired_differences(base, better) == pytest.approx([score_of(r) - score_of(b) for b, r in zip(base, better)])


@pytest.mark.slow
def test_a_setting_frozen_on_tuning_runs_carries_no_edge_into_fresh_confirmation_runs():
    """Three 'settings' no better than the baseline: the one with the best tuning validation AP won on luck, and
    its confirmation runs, on fresh splits, show no systematic gain over the baseline."""
    rng = np.random.default_rng(3)
    tuning_gains, gains = [], []
    for _ in range(60):
        tuning = [null_study(rng, 3, photo_effect=0.0) for _ in range(3)]
        search = [replace(r, recipe=class_weight(w)) for w, (_, other) in zip((1, 2, 3), tuning) for r in other]
        frozen = choose_setting(search)
        won = [r for r in search if r.recipe == frozen]
        tuning_gains.append(np.mean([average_precision(r.val_labels, r.trained.val_scores) for r in won])
                            - np.mean([average_precision(r.val_labels, r.trained.val_scores) for r in search]))  # fmt: skip
        base, fresh = null_study(rng, 4, photo_effect=0.0)
        gains.append(compare(base, fresh, "frozen", n_boot=0).difference)
    assert np.mean(tuning_gains) > 0  # the winner looked better on the runs it was chosen on
    assert abs(np.mean(gains)) < 2.5 * np.std(gains) / np.sqrt(len(gains))  # no systematic edge where it is tested
