"""The notebooks' one import: the functions they call, re-exported from the `unbalanced` package.

Each name lives in the module named after its step (see unbalanced/__init__.py); to change how something works,
open that module. Importing this file changes no setting: the notebooks' first cell starts TensorFlow explicitly.
"""

from unbalanced.metrics import (
    OPERATING_POINTS,
    choose_setting,
    format_mean_sd,
    long_table,
    operating_point_table,
    record_metrics,
    summary_table,
)
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
from unbalanced.runtime import collect_parameters, start_tensorflow
from unbalanced.splits import ratio_sizes, same_ratio_sizes
from unbalanced.stats import compare, comparison_table, holm, paired_differences
from unbalanced.study import Study, best_on_validation, compare_all, read_run, reliability_sentence, say, sweep, trend_sentence
from unbalanced.training import (
    augmented_oversampling,
    balanced_control,
    balancing,
    baseline,
    class_weight,
    focal_loss,
    initial_output_bias,
    more_positives,
    oversampling,
    sized,
    undersampling,
)

__all__ = [
    "OPERATING_POINTS",
    "Study",
    "augmented_oversampling",
    "balanced_control",
    "balancing",
    "best_on_validation",
    "baseline",
    "choose_setting",
    "class_weight",
    "collect_parameters",
    "compare",
    "compare_all",
    "comparison_table",
    "focal_loss",
    "format_mean_sd",
    "holm",
    "initial_output_bias",
    "long_table",
    "more_positives",
    "operating_point_table",
    "oversampling",
    "paired_differences",
    "plot_ap",
    "plot_augmented",
    "plot_confusion_matrices",
    "plot_focal_loss",
    "plot_gains",
    "plot_sample_grid",
    "plot_search",
    "plot_sweep",
    "plot_threshold_sweep",
    "plot_training_curves",
    "read_run",
    "record_metrics",
    "reliability_sentence",
    "say",
    "sized",
    "ratio_sizes",
    "same_ratio_sizes",
    "start_tensorflow",
    "summary_table",
    "sweep",
    "trend_sentence",
    "undersampling",
]
