"""The model: the original post's small CNN, its output bias, and a compiled copy reused across trainings."""

from __future__ import annotations

import math
from typing import Any, Hashable

import numpy as np


def build_cnn(image_size: int, output_bias: float | None = None, seed: int = 0) -> Any:
    """Build the original post's 3-conv CNN (32/64/128 filters, dropout 0.15/0.15/0.4, dense 64, sigmoid).

    Every initializer and dropout layer gets its own seed derived from `seed`: left unseeded, Keras draws their
    seeds from Python's global random generator, which other threads of the process (a Dask worker's, for one) also
    draw from, and the same seed would then not always give the same model.
    """
    import keras
    from keras import initializers, layers

    seeds = iter(range(1000 * seed, 1000 * seed + 100))
    conv = lambda filters: layers.Conv2D(filters, (3, 3), padding="same", activation="relu",  # noqa: E731
                                         kernel_initializer=initializers.HeUniform(seed=next(seeds)))  # fmt: skip
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            conv(32),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15, seed=next(seeds)),
            conv(64),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15, seed=next(seeds)),
            conv(128),
            layers.MaxPool2D((2, 2)),
            layers.Flatten(),
            layers.Dense(64, activation="relu", kernel_initializer=initializers.HeUniform(seed=next(seeds))),
            layers.Dropout(0.4, seed=next(seeds)),
            output_layer(output_bias, seed=next(seeds)),
        ],
        name="cnn",
    )


def output_layer(output_bias: float | None, seed: int) -> Any:
    """The sigmoid output unit; its bias starts at `output_bias` (the initial-bias remedy), or at 0."""
    from keras import initializers, layers

    bias = initializers.Constant(output_bias) if output_bias is not None else "zeros"
    return layers.Dense(1, activation="sigmoid", kernel_initializer=initializers.GlorotUniform(seed=seed), bias_initializer=bias)


def initial_bias(labels: np.ndarray) -> float:
    """Return b0 = ln(pos/neg), the output bias that makes the untrained model predict the training prior."""
    pos = int(np.sum(labels))
    return math.log(pos / (len(labels) - pos))


def compile_model(model: Any, loss: Any = "binary_crossentropy", learning_rate: float = 1e-3, steps_per_execution: int = 1) -> Any:
    """Compile `model` with Adam and the given loss; return it.

    No Keras metrics: every figure the study reports is computed from predictions with scikit-learn's definitions,
    and Keras' own (a 200-bucket PR-AUC among them) would only cost time in every step. `steps_per_execution` runs
    that many updates per call into TensorFlow: for a model this small, each call's overhead is a large share of an
    update (docs/performance.md).
    """
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, steps_per_execution=steps_per_execution)
    return model


_COMPILED_MODELS: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}


def initialised_model(image_size: int, output_bias: float | None, loss: Any, loss_key: Hashable, steps_per_execution: int = 1,
                      seed: int = 0) -> Any:  # fmt: skip
    """Return the compiled CNN in exactly the state a fresh build under the current seed has, reusing traced functions.

    Keras traces a new model's training and prediction steps on first use, which costs more than an epoch of these
    small models takes. So one compiled model per (image size, output bias, loss) is kept, and each call builds a fresh
    model only to copy its variables (weights and dropout seeds) into it and resets the optimizer: training is then
    bit-identical to a freshly compiled model's (tests/test_model.py checks it). `loss_key` names the loss.
    """
    fresh = build_cnn(image_size, output_bias, seed)  # the seed's initial weights and dropout seeds
    key = (image_size, output_bias, loss_key, steps_per_execution)
    if key not in _COMPILED_MODELS:
        model = compile_model(fresh, loss=loss, steps_per_execution=steps_per_execution)
        model.optimizer.build(model.trainable_variables)
        _COMPILED_MODELS[key] = (model, [v.numpy() for v in model.optimizer.variables])
        return model
    model, optimizer_start = _COMPILED_MODELS[key]
    for target, source in zip(model.variables, fresh.variables, strict=True):
        target.assign(source)
    for variable, value in zip(model.optimizer.variables, optimizer_start, strict=True):
        variable.assign(value)
    return model
