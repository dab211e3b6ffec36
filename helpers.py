"""The notebooks' one import: the functions they call, re-exported from the `unbalanced` package.

Each name lives in the module named after its step (see unbalanced/__init__.py); to change how something works,
open that module. Importing this file changes no setting: the notebooks' first cell starts TensorFlow explicitly.
"""

from unbalanced.datasets import make_resampled_dataset, positive_share, prepare_data, undersample
from unbalanced.metrics import mean_std_table, prior_shift_threshold, rule_table, run_metrics, threshold_for_recall
from unbalanced.model import build_cnn, initial_bias
from unbalanced.plots import (
    plot_augmented,
    plot_confusion_matrix,
    plot_metric_bars,
    plot_sample_grid,
    plot_score_curves,
    plot_training_curves,
)
from unbalanced.results import load_results, runs_from_results, save_results
from unbalanced.runtime import collect_parameters, seed_everything, start_tensorflow
from unbalanced.splits import split_table
from unbalanced.stats import describe_difference, paired_bootstrap, spread_verdict
from unbalanced.storage import resolve_path
from unbalanced.training import Variant, class_weights, run_variants

__all__ = [
    "Variant",
    "build_cnn",
    "class_weights",
    "collect_parameters",
    "describe_difference",
    "initial_bias",
    "load_results",
    "make_resampled_dataset",
    "mean_std_table",
    "paired_bootstrap",
    "plot_augmented",
    "plot_confusion_matrix",
    "plot_metric_bars",
    "plot_sample_grid",
    "plot_score_curves",
    "plot_training_curves",
    "positive_share",
    "prepare_data",
    "prior_shift_threshold",
    "resolve_path",
    "rule_table",
    "run_metrics",
    "run_variants",
    "runs_from_results",
    "save_results",
    "seed_everything",
    "split_table",
    "spread_verdict",
    "start_tensorflow",
    "threshold_for_recall",
    "undersample",
]
