"""Tests for unbalanced/stats.py: the paired comparison never calls a null difference real more often than it says,
finds a planted one, pairs only what was made under one protocol, and applies Holm's correction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import PROTOCOL, fake_record, scored_runs

from unbalanced.stats import BETTER, NO_DIFFERENCE, TOO_FEW, WORSE, Comparison, compare, holm, paired
from unbalanced.training import Recipe


def test_the_same_recipe_under_two_names_is_never_declared_different():
    base, _ = scored_runs(0.0, runs=4)
    renamed = [replace(r, recipe=Recipe("same recipe, other name")) for r in base]
    for seed in range(20):  # whatever the bootstrap draws
        c = compare(base, renamed, "renamed", n_boot=200, seed=seed)
        assert c.difference == 0.0 and c.low == c.high == 0.0 and c.verdict == NO_DIFFERENCE


@pytest.mark.slow
@pytest.mark.parametrize("runs", [3, 5])
def test_under_no_true_difference_the_error_rate_stays_at_or_under_five_percent(runs: int):
    """Exchangeable models (the same signal, independent training noise and test sets): how often is a difference
    declared? The nominal rate is 5 %; 200 simulated studies give a standard error of about 1.5 points."""
    declared = 0
    for study in range(200):
        base, remedy = scored_runs(0.0, runs=runs, n_neg=200, n_pos=20, seed=study)
        declared += holm([compare(base, remedy, "null", n_boot=200, seed=study)])[0].verdict != NO_DIFFERENCE
    assert declared / 200 <= 0.05 + 0.03


def test_a_planted_effect_is_found_in_both_directions():
    base, better = scored_runs(1.5, runs=5, seed=1)
    up = holm([compare(base, better, "better", n_boot=500)])[0]
    assert up.verdict == BETTER and up.low > 0 and up.improvement == 1.0 and up.runs == 5
    down = holm([compare(better, base, "worse", n_boot=500)])[0]
    assert down.verdict == WORSE and down.high < 0


def test_fewer_than_three_paired_runs_are_too_few_to_judge():
    base, better = scored_runs(1.5, runs=2)
    c = holm([compare(base, better, "two runs")])[0]
    assert c.verdict == TOO_FEW and np.isnan(c.low) and "too few runs to judge (2 paired runs" in c.sentence()


def test_holm_step_down_by_hand():
    make = lambda name, p, d: Comparison(name, 5, d, d - 1, d + 1, p, 0.5, verdict=NO_DIFFERENCE)  # noqa: E731
    results = holm([make("a", 0.01, 0.1), make("b", 0.04, -0.1), make("c", 0.03, 0.1), make("d", 0.5, 0.1)])
    # sorted p: 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 -> 0.09 (monotone), 0.5 x 1 = 0.5
    assert [round(c.p_holm, 4) for c in results] == [0.04, 0.09, 0.09, 0.5]
    assert [c.verdict for c in results] == [BETTER, NO_DIFFERENCE, NO_DIFFERENCE, NO_DIFFERENCE]


def test_only_runs_of_one_protocol_and_one_test_set_are_paired():
    base, remedy = scored_runs(0.5, runs=3)
    assert [(b.run, r.run) for b, r in paired(base, remedy)] == [((0, 1), (0, 1)), ((1, 1), (1, 1)), ((2, 1), (2, 1))]
    with pytest.raises(ValueError, match="different protocols or test sets"):
        paired(base, [replace(remedy[0], protocol=replace(PROTOCOL, image_size=32))])
    with pytest.raises(ValueError, match="different protocols or test sets"):
        paired(base, [replace(remedy[0], test_fingerprint="other test images")])
    labels = np.array([0, 1])
    lone = fake_record(Recipe("x"), 9, 9, (labels, labels * 1.0), (labels, labels * 1.0))
    assert paired(base, [lone]) == []  # no baseline run to pair it with


def test_sentences_state_the_interval_and_never_more():
    base, better = scored_runs(1.5, runs=5, seed=1)
    c = holm([compare(base, better, "oversampling", n_boot=300)])[0]
    text = c.sentence()
    assert text.startswith("oversampling: +") and "95 % interval" in text and "higher in 5 of 5 paired runs" in text
    assert text.endswith(f"Holm-adjusted p = {c.p_holm:.3f}: {BETTER}.")
    null = replace(c, verdict=NO_DIFFERENCE)
    assert "cannot tell it from the baseline" in null.sentence() and BETTER not in null.sentence()
