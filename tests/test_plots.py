"""Tests for unbalanced/plots.py: the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import model_runs

from unbalanced.files import find_class_files
from unbalanced.metrics import run_metrics
from unbalanced.plots import plot_confusion_matrix, plot_metric_bars, plot_sample_grid, plot_score_curves, plot_training_curves
from unbalanced.training import ModelRun


def test_metric_bars_show_one_panel_per_metric():
    import matplotlib

    matplotlib.use("Agg")
    runs, val, test = model_runs()
    fig = plot_metric_bars(run_metrics(runs, val, test))
    assert [ax.get_title() for ax in fig.axes] == ["PR-AUC", "recall @ 0.5", "recall @ tuned"]


def test_plots_draw_without_error(flat_root: Path):
    import matplotlib

    matplotlib.use("Agg")
    files = find_class_files(flat_root)
    assert len(plot_sample_grid(files, per_class=3).axes) == 6
    run = ModelRun("m", 1, np.zeros(3), np.array([0.2, 0.7, 0.4]),
                     {k: [1.0, 0.5] for k in ("loss", "val_loss", "pr_auc", "val_pr_auc")}, 2)  # fmt: skip
    fig = plot_training_curves([run], "m")
    assert [len(ax.lines) for ax in fig.axes] == [2, 3]  # train + validation; and the kept-epoch dot
    fig = plot_score_curves([run, ModelRun("m", 2, np.zeros(3), np.array([0.1, 0.9, 0.8]), run.history, 1)],
                              np.array([0, 1, 1]))  # fmt: skip
    assert len(fig.axes) == 2
    ax = plot_confusion_matrix(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]), ["cats", "dogs"], "m")
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]
