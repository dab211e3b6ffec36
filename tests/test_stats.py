"""Tests for unbalanced/stats.py: the paired comparison never calls a null difference real more often than it says,
whether the runs share splits or not, finds a planted effect, pairs only what belongs together, and applies Holm."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import PROTOCOL, fake_record, scored_runs

from unbalanced.metrics import choose_on_validation, roc_auc
from unbalanced.stats import BETTER, NO_DIFFERENCE, PENDING, TOO_FEW, WORSE, Comparison, compare, holm, paired
from unbalanced.training import Recipe, class_weight


def test_the_same_recipe_under_two_names_is_never_declared_different():
    base, _ = scored_runs(0.0, runs=4)
    renamed = [replace(r, recipe=Recipe("same recipe, other name")) for r in base]
    for seed in range(20):  # whatever the bootstrap draws
        c = holm([compare(base, renamed, "renamed", n_boot=200, seed=seed)])[0]
        assert c.difference == 0.0 and c.low == c.high == 0.0 and c.verdict == NO_DIFFERENCE


def _null_study(rng, splits: int, seeds: int, split_effect: float) -> tuple[list, list]:
    """Baseline and 'remedy' of the same quality on average; each split may favour one of them (split_effect), as a
    remedy can suit one cut of the data better than another."""
    base, other = [], []
    for split in range(splits):
        labels = np.r_[np.zeros(200, int), np.ones(20, int)]
        difficulty = rng.normal(0, 1, len(labels))
        tilt = rng.normal(0, split_effect)  # shared by every seed of this split
        for seed in range(seeds):
            for records, quality in ((base, 1.0), (other, 1.0 + tilt)):
                q = quality + rng.normal(0, 0.1)
                val = 1 / (1 + np.exp(-(q * labels + difficulty + rng.normal(0, 0.7, len(labels)))))
                test = 1 / (1 + np.exp(-(q * labels + difficulty + rng.normal(0, 0.7, len(labels)))))
                name = "baseline" if records is base else "other"
                records.append(fake_record(Recipe(name), split, seed, (labels, val), (labels, test), test_fingerprint=f"split {split}"))
    return base, other


@pytest.mark.slow
@pytest.mark.parametrize(("splits", "seeds", "split_effect"), [(3, 1, 0.0), (5, 1, 0.0), (3, 3, 0.3)])
def test_under_no_true_difference_the_error_rate_stays_at_or_under_five_percent(splits: int, seeds: int, split_effect: float):
    """200 simulated null studies: the nominal rate is 5 %, and 200 studies give a standard error of about 1.5 points.
    With several seeds per split and a split-level effect, counting seeds as independent runs would be far too bold."""
    rng = np.random.default_rng(splits * 10 + seeds)
    declared = 0
    for study in range(200):
        base, other = _null_study(rng, splits, seeds, split_effect)
        declared += holm([compare(base, other, "null", n_boot=200, seed=study)])[0].verdict != NO_DIFFERENCE
    assert declared / 200 <= 0.05 + 0.03


@pytest.mark.slow
def test_choosing_among_settings_that_do_nothing_gives_no_edge_over_the_baseline():
    """Three 'settings' no better than the baseline: choosing per run from its own validation AP would pick the
    luckiest and win on average; choosing from the other splits does not."""
    rng = np.random.default_rng(3)
    gains = []
    for _ in range(60):
        base, first = _null_study(rng, 4, 1, 0.0)
        settings = [first] + [_null_study(rng, 4, 1, 0.0)[1] for _ in range(2)]
        search = [replace(r, recipe=class_weight(w)) for w, records in zip((1, 2, 3), settings) for r in records]
        # each setting's runs share the baseline's test labels per split, so they pair with it
        search = [replace(r, test_labels=next(b.test_labels for b in base if b.run == r.run), test_fingerprint=f"split {r.split_seed}")
                  for r in search]  # fmt: skip
        gains.append(compare(base, choose_on_validation(search), "searched", n_boot=50).difference)
    assert abs(np.mean(gains)) < 2.5 * np.std(gains) / np.sqrt(len(gains))  # no systematic edge


def test_a_planted_effect_is_found_in_both_directions():
    base, better = scored_runs(1.5, runs=5, seed=1)
    up = holm([compare(base, better, "better", n_boot=500)])[0]
    assert up.verdict == BETTER and up.low > 0 and up.improvement == 1.0 and up.runs == 5 and up.splits == 5
    down = holm([compare(better, base, "worse", n_boot=500)])[0]
    assert down.verdict == WORSE and down.high < 0


def test_a_comparison_in_roc_auc_bootstraps_roc_auc_and_says_so():
    base, better = scored_runs(1.5, runs=5, seed=1)
    c = compare(base, better, "better", n_boot=300, metric="ROC-AUC")
    by_hand = np.mean([roc_auc(r.test_labels, r.trained.test_scores) - roc_auc(b.test_labels, b.trained.test_scores)
                       for b, r in zip(base, better)])  # fmt: skip
    ap = compare(base, better, "better", n_boot=300)
    assert c.difference == pytest.approx(by_hand) and c.difference != pytest.approx(ap.difference) and c.low > 0
    assert " ROC-AUC (95 % interval" in c.provisional_sentence() and " AP (95 % interval" in ap.provisional_sentence()


def test_fewer_than_three_splits_are_too_few_to_judge_however_many_seeds():
    base, better = scored_runs(1.5, runs=2)
    c = holm([compare(base, better, "two splits")])[0]
    assert c.verdict == TOO_FEW and np.isnan(c.low) and "too few runs to judge (2 splits; at least 3 independent splits" in c.sentence()
    labels = np.array([0, 0, 1])
    one_split = [fake_record(Recipe(n), 0, seed, (labels, labels * 0.5), (labels, labels * s)) for seed in range(5)
                 for n, s in (("baseline", 0.5), ("remedy", 0.9))]  # fmt: skip
    assert compare(one_split[::2], one_split[1::2], "seeds only").verdict == TOO_FEW


def test_holm_step_down_by_hand():
    make = lambda name, p, d: Comparison(name, 5, 5, d, d - 1, d + 1, p, 0.5)  # noqa: E731
    results = holm([make("a", 0.01, 0.1), make("b", 0.04, -0.1), make("c", 0.03, 0.1), make("d", 0.5, 0.1)])
    # sorted p: 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 -> 0.09 (monotone), 0.5 x 1 = 0.5
    assert [round(c.p_holm, 4) for c in results] == [0.04, 0.09, 0.09, 0.5]
    assert [c.verdict for c in results] == [BETTER, NO_DIFFERENCE, NO_DIFFERENCE, NO_DIFFERENCE]


def test_only_runs_of_one_protocol_and_one_test_set_per_split_are_paired():
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


def test_sentences_state_the_interval_and_never_more():
    base, better = scored_runs(1.5, runs=5, seed=1)
    provisional = compare(base, better, "oversampling", n_boot=300)
    assert provisional.verdict == PENDING and BETTER not in provisional.provisional_sentence()
    assert "before the correction across all remedies, which the summary applies" in provisional.provisional_sentence()
    c = holm([provisional])[0]
    text = c.sentence()
    assert text.startswith("oversampling: +") and "95 % interval" in text and "higher in 5 of 5 paired runs" in text
    assert text.endswith(f"Holm-adjusted p = {c.p_holm:.3f}: {BETTER}.")
    null = replace(c, verdict=NO_DIFFERENCE)
    assert "cannot tell it from the baseline" in null.sentence() and BETTER not in null.sentence()
