"""Tests for unbalanced/model.py: the CNN, its output bias and the reused compiled model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unbalanced.model import build_cnn, initial_bias, training_metrics
from unbalanced.runtime import seed_everything


def test_cnn_shapes_and_output_bias():
    model = build_cnn(32, output_bias=math.log(1 / 10))
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1)
    assert model.layers[-1].get_weights()[1][0] == pytest.approx(math.log(0.1))
    out = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


def test_reseeding_gives_identical_initial_weights():
    seed_everything(3)
    first = build_cnn(16).get_weights()
    build_cnn(16)  # consuming random state in between must not matter once we reseed
    seed_everything(3)
    second = build_cnn(16).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_initial_bias_formula():
    labels = np.r_[np.zeros(600), np.ones(60)]
    assert initial_bias(labels) == pytest.approx(math.log(60 / 600))
    assert 1 / (1 + math.exp(-initial_bias(labels))) == pytest.approx(60 / 660)


def test_training_metrics_include_roc_and_pr_auc():
    names = [m.name for m in training_metrics()]
    assert {"tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "roc_auc", "pr_auc"} == set(names)
