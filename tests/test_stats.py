"""Tests for unbalanced/stats.py: paired comparisons."""

from __future__ import annotations

import numpy as np

from unbalanced.stats import describe_difference, paired_bootstrap


def test_paired_bootstrap_sees_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    labels = (rng.random(600) < 0.1).astype(int)
    good = labels * 1.0 + rng.normal(0, 0.3, 600)
    poor = labels * 0.2 + rng.normal(0, 0.3, 600)
    diff, low, high = paired_bootstrap(labels, good, poor, "PR-AUC", n_boot=300)
    assert low > 0 and low <= diff <= high
    assert "larger than" in describe_difference("good", "poor", diff, low, high)
    same = paired_bootstrap(labels, good, good, "ROC-AUC", n_boot=50)
    assert same == (0.0, 0.0, 0.0)
    assert "within" in describe_difference("a", "b", 0.01, -0.02, 0.04)
