"""Tests for unbalanced/plots.py: each figure draws what it promises from small generated records."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from conftest import fake_record, scored_runs

from unbalanced.files import find_class_files
from unbalanced.metrics import choose_setting, record_metrics
from unbalanced.plots import (
    plot_ap,
    plot_augmented,
    plot_confusion_matrices,
    plot_focal_loss,
    plot_gains,
    plot_sample_grid,
    plot_search,
    plot_sweep,
    plot_threshold_sweep,
    plot_training_curves,
)
from unbalanced.stats import compare, holm
from unbalanced.training import class_weight

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_sample_grid_and_augmented_copies(flat_root: Path):
    assert len(plot_sample_grid(find_class_files(flat_root), per_class=3).axes) == 6
    fig = plot_augmented(np.zeros((16, 16, 3), np.uint8), [0.5, 1.0], seed=0, copies=3)
    assert len(fig.axes) == 8 and [ax.get_ylabel() for ax in fig.axes[::4]] == ["strength 0.5", "strength 1"]


def test_search_rings_the_frozen_setting_at_its_mean():
    labels = np.array([0, 0, 1, 1])
    records = [fake_record(class_weight(w), run, 1, (labels, np.array(v)), (labels, np.array(v)))
               for w, vals in ((3, ([0.1, 0.6, 0.4, 0.9], [0.1, 0.2, 0.8, 0.9])), (10, ([0.1, 0.2, 0.8, 0.9], [0.5, 0.6, 0.4, 0.3])))
               for run, v in enumerate(vals)]  # fmt: skip
    fig = plot_search(records, choose_setting(records), "search")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w = 3", "w = 10"]
    rings = [line for line in ax.lines if line.get_marker() == "o" and line.get_markerfacecolor() == "none" and len(line.get_xdata())]
    assert [float(line.get_xdata()[0]) for line in rings] == [0.0]  # w = 3: mean validation AP 0.875 against 0.708


def test_gains_show_every_run_and_the_interval():
    base, better = scored_runs(1.0, runs=3)
    comparisons = holm([compare(base, better, "better", n_boot=100)])
    diffs = [0.1, 0.2, 0.15]
    ax = plot_gains(comparisons, {"better": diffs}).axes[0]
    dots = next(line for line in ax.lines if len(line.get_xdata()) == 3)
    assert list(dots.get_xdata()) == diffs
    assert any(list(line.get_xdata()) == [comparisons[0].low, comparisons[0].high] for line in ax.lines)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["better"]


def test_ap_bars_mark_chance_and_zoom_to_the_data():
    base, better = scored_runs(1.0, runs=3)
    ax = plot_ap(record_metrics({"baseline": base, "better": better}), chance=0.09).axes[0]
    assert any(list(line.get_xdata()) == [0.09, 0.09] for line in ax.lines)  # the chance line
    assert ax.get_xlim()[1] < 1.0 and ax.get_xlim()[0] == 0.0


def test_threshold_sweep_marks_the_four_operating_points():
    base, _ = scored_runs(1.0, runs=1)
    ax = plot_threshold_sweep(base, 0.8).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["precision", "recall"] and len(labels) == 6 and labels[2].startswith("0.5 (")


def test_focal_loss_starts_from_cross_entropy():
    ax = plot_focal_loss([2.0, 1.0]).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cross-entropy (γ = 0)", "γ = 1", "γ = 2"]


def test_training_curves_mark_the_kept_epoch():
    base, _ = scored_runs(0.0, runs=2)
    fig = plot_training_curves(base, "baseline")
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 4  # a curve and a dot per run


def test_sweep_draws_ap_per_model_and_gains_with_intervals():
    base, better = scored_runs(1.0, runs=3)
    gains = {"better": [compare(base, better, "better", n_boot=50)] * 3}
    fig = plot_sweep([1, 10, 100], {"baseline": [[0.2, 0.3]] * 3, "better": [[0.4, 0.5]] * 3}, gains, "ratio", log_x=True,
                     chance=[0.09] * 3)  # fmt: skip
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[1].get_legend().get_texts()) == 1


def test_confusion_matrices_count_every_test_image_at_each_operating_point():
    base, _ = scored_runs(1.0, runs=1)
    fig = plot_confusion_matrices(base[0], 0.8, ["cats", "dogs"])
    assert len(fig.axes) == 4
    for ax in fig.axes:
        assert sum(int(t.get_text()) for t in ax.texts) == len(base[0].test_labels)


def test_confusion_matrices_of_several_models_take_one_row_each():
    base, better = scored_runs(1.0, runs=1)
    fig = plot_confusion_matrices([base[0], better[0]], 0.8, ["cats", "dogs"], points=("0.5", "best F1 on validation"))
    assert len(fig.axes) == 4
    assert [ax.get_title().split(",")[0] for ax in fig.axes] == [base[0].label] * 2 + [better[0].label] * 2
    for ax in fig.axes:
        assert sum(int(t.get_text()) for t in ax.texts) == len(base[0].test_labels)
