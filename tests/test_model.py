"""Tests for unbalanced/model.py: the CNN, its output bias and the reused compiled model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unbalanced.model import build_cnn, compile_model, initial_bias
from unbalanced.runtime import seed_everything


def test_cnn_shapes_and_an_output_bias_that_predicts_the_prior():
    model = build_cnn(32, output_bias=math.log(1 / 10))
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1)
    out = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    np.testing.assert_allclose(out, 1 / 11, rtol=1e-6)  # a blank image reaches the output as the bias alone: the prior


def test_the_initial_weights_depend_on_the_seed_alone_not_on_global_random_state():
    import random

    seed_everything(3)
    first = build_cnn(16, seed=3).get_weights()
    random.random(), np.random.random(), build_cnn(16, seed=4)  # other threads (a Dask worker's) draw from these
    second = build_cnn(16, seed=3).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], build_cnn(16, seed=4).get_weights()[0])


def test_initial_bias_formula():
    labels = np.r_[np.zeros(600), np.ones(60)]
    assert initial_bias(labels) == pytest.approx(math.log(60 / 600))
    assert 1 / (1 + math.exp(-initial_bias(labels))) == pytest.approx(60 / 660)


def test_compiled_models_track_no_keras_metrics():
    model = compile_model(build_cnn(8), steps_per_execution=5)
    assert model.compiled_metrics is None or not model.metrics_names[1:]  # the loss only
    assert model.steps_per_execution == 5
