"""Unit tests for helpers.py, in the order data flows."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import helpers as h
from conftest import REAL_SAMPLE, write_images

COUNTS = {"cats": [3, 3, 2, 2], "dogs": [3, 1, 2, 2]}

# --------------------------------------------------------------------------- setup


def test_resolve_path_is_relative_to_project_root():
    assert h.resolve_path("runs/x") == h.PROJECT_ROOT / "runs" / "x"
    assert h.resolve_path("/tmp/abs") == Path("/tmp/abs")


def test_collect_parameters_returns_names_defined_after_the_snapshot():
    namespace = {"In": [], "_i1": "", "helpers": h}
    before = set(namespace)
    namespace.update({"epochs": 3, "data_root": "", "_i2": "x"})
    assert h.collect_parameters(namespace, before) == {"epochs": 3, "data_root": ""}


# --------------------------------------------------------------------------- find files


def test_find_class_files_sorted_classes_and_candidate_files(flat_root: Path):
    (flat_root / "train" / "cats" / ".hidden.jpg").write_bytes(b"x")
    (flat_root / "train" / "cats" / "notes.txt").write_text("not an image")
    (flat_root / "train" / ".DS_Store").write_bytes(b"x")
    files = h.find_class_files(flat_root)
    assert list(files) == ["cats", "dogs"]
    assert len(files["cats"]) == 13 and len(files["dogs"]) == 8  # notes.txt is a candidate; the check rejects it
    assert not any(f.name.startswith(".") for f in files["cats"])
    assert files["cats"] == sorted(files["cats"])
    assert len(h.check_images(flat_root, 8).usable["cats"]) == 12


def test_find_class_files_missing_root_names_the_folder(tmp_path: Path):
    with pytest.raises(h.DataError, match=str(tmp_path / "nope")):
        h.find_class_files(tmp_path / "nope")


def test_find_class_files_missing_train_folder(tmp_path: Path):
    with pytest.raises(h.DataError, match="train"):
        h.find_class_files(tmp_path)


def test_find_class_files_empty_class_is_named(flat_root: Path):
    (flat_root / "train" / "birds").mkdir()
    with pytest.raises(h.DataError, match="birds"):
        h.find_class_files(flat_root)


def test_class_roles_checks_positive_class_and_count():
    assert h.class_roles(["cats", "dogs"], "dogs") == ("cats", "dogs")
    assert h.class_roles(["cats", "dogs"], "cats") == ("dogs", "cats")
    with pytest.raises(h.DataError, match="positive_class='birds'"):
        h.class_roles(["cats", "dogs"], "birds")
    with pytest.raises(h.DataError, match="exactly two"):
        h.class_roles(["a", "b", "c"], "a")


# --------------------------------------------------------------------------- demo data


def test_demo_dataset_is_deterministic_and_in_the_kaggle_layout(tmp_path: Path):
    a = h.make_demo_dataset(tmp_path / "a", per_class=5)
    b = h.make_demo_dataset(tmp_path / "b", per_class=5)
    files_a, files_b = h.find_class_files(a), h.find_class_files(b)
    assert list(files_a) == ["cats", "dogs"] and len(files_a["dogs"]) == 5
    for fa, fb in zip(files_a["dogs"], files_b["dogs"]):
        assert fa.read_bytes() == fb.read_bytes()


def test_demo_classes_differ_in_blob_colour(tiny_demo_root: Path):
    """The positive blobs are warmer on average: a crude red-minus-blue score separates the classes."""
    from PIL import Image

    files = h.find_class_files(tiny_demo_root)
    warmth = {c: np.mean([np.asarray(Image.open(f), float)[..., 0].mean() - np.asarray(Image.open(f), float)[..., 2].mean()
                          for f in fs]) for c, fs in files.items()}
    assert warmth["dogs"] > warmth["cats"]


# --------------------------------------------------------------------------- split


def test_splits_are_disjoint_sized_and_labelled_by_folder(flat_root: Path):
    files = h.find_class_files(flat_root)
    splits = h.split_files(files, COUNTS, "dogs", seed=1)
    assert list(splits) == list(h.SPLIT_NAMES)
    all_files = [f for s in splits.values() for f in s.files]
    assert len(all_files) == len(set(all_files)) == 18
    for name, i in zip(h.SPLIT_NAMES, range(4)):
        assert len(splits[name]) == COUNTS["cats"][i] + COUNTS["dogs"][i]
        assert splits[name].positives == COUNTS["dogs"][i]
        for f, label in zip(splits[name].files, splits[name].labels):
            assert label == (Path(f).parent.name == "dogs")


def test_splits_are_deterministic_and_depend_on_seed(flat_root: Path):
    files = h.find_class_files(flat_root)
    first = h.split_files(files, COUNTS, "dogs", seed=1)
    again = h.split_files(files, COUNTS, "dogs", seed=1)
    other = h.split_files(files, COUNTS, "dogs", seed=2)
    assert all(first[n].files == again[n].files for n in h.SPLIT_NAMES)
    assert any(first[n].files != other[n].files for n in h.SPLIT_NAMES)


def test_split_asking_for_too_many_files_names_class_asked_and_found(flat_root: Path):
    files = h.find_class_files(flat_root)
    with pytest.raises(h.DataError, match=r"'dogs'.*asks? for 10 files.*only 8"):
        h.split_files(files, {"cats": [1, 1, 1, 1], "dogs": [4, 2, 2, 2]}, "dogs", seed=0)


def test_split_counts_must_match_split_names_and_classes(flat_root: Path):
    files = h.find_class_files(flat_root)
    with pytest.raises(h.DataError, match="4 split counts"):
        h.split_files(files, {"cats": [1, 1], "dogs": [1, 1, 1, 1]}, "dogs", seed=0)
    with pytest.raises(h.DataError, match="birds"):
        h.split_files(files, {"birds": [1, 1, 1, 1]}, "dogs", seed=0)


def test_split_table_counts(flat_root: Path):
    splits = h.split_files(h.find_class_files(flat_root), COUNTS, "dogs", seed=0)
    table = h.split_table(splits, "cats", "dogs")
    assert table.loc["train_unbalanced", "cats"] == 3 and table.loc["train_unbalanced", "dogs"] == 1
    assert table.loc["val", "positive share"] == 0.5


# --------------------------------------------------------------------------- pipeline


def _flat_data(root: Path, counts=COUNTS) -> tuple[dict, dict]:
    check = h.check_images(root, 16)
    splits = h.split_files(check.usable, counts, "dogs", seed=0)
    return splits, {name: check.images_for(split) for name, split in splits.items()}


def test_decoded_images_shapes_dtype_and_file_order(flat_root: Path):
    splits, images = _flat_data(flat_root)
    x = images["train_balanced"]
    assert x.shape == (6, 16, 16, 3) and x.dtype == np.uint8
    is_white = x.mean(axis=(1, 2, 3)) > 127
    np.testing.assert_array_equal(is_white, splits["train_balanced"].labels == 1)  # row i is file i


def test_make_dataset_shapes_dtypes_and_order(flat_root: Path):
    splits, images = _flat_data(flat_root)
    ds = h.make_dataset(images["train_balanced"], splits["train_balanced"].labels, batch_size=4)
    x, y = next(iter(ds))
    assert x.shape == (4, 16, 16, 3) and x.dtype.name == "float32" and y.dtype.name == "float32"
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0
    labels = np.concatenate([b[1].numpy() for b in ds])
    np.testing.assert_array_equal(labels, splits["train_balanced"].labels)


def test_shuffled_pipeline_keeps_each_image_with_its_label_and_reshuffles(flat_root: Path):
    splits, images = _flat_data(flat_root, {"cats": [12, 0, 0, 0], "dogs": [8, 0, 0, 0]})
    ds = h.make_dataset(images["train_balanced"], splits["train_balanced"].labels, batch_size=5, shuffle=True, seed=3)
    epochs = []
    for _ in range(2):
        xs, ys = zip(*[(b[0].numpy(), b[1].numpy()) for b in ds])
        x, y = np.concatenate(xs), np.concatenate(ys)
        np.testing.assert_array_equal(x.mean(axis=(1, 2, 3)) > 0.5, y == 1)  # white images are the dogs
        epochs.append(y)
    assert sorted(epochs[0]) == sorted(epochs[1]) and epochs[0].sum() == 8
    assert not np.array_equal(epochs[0], epochs[1])  # a fresh order each epoch


def test_decode_reads_png_and_resizes(tmp_path: Path):
    from PIL import Image

    p = tmp_path / "x.png"
    Image.fromarray(np.full((30, 50, 3), 200, np.uint8)).save(p)
    img = h.decode_image(str(p), 12).numpy()
    assert img.shape == (12, 12, 3) and img.dtype == np.uint8 and abs(int(img.mean()) - 200) <= 1


def _labelled_images(n_neg: int, n_pos: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first pixel encodes their index and whose brightness encodes their class."""
    labels = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    images = np.zeros((len(labels), 8, 8, 3), np.uint8)
    images[labels == 1] = 200
    images[:, 0, 0, 0] = np.arange(len(labels))
    return images, labels


@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_oversampling_yields_the_stated_class_ratio_over_an_epoch(fraction: float):
    images, labels = _labelled_images(200, 20)
    ds, steps = h.make_resampled_dataset(images, labels, batch_size=16, seed=0, positive_fraction=fraction)
    assert steps == 25  # ceil(2 * 200 / 16): about every negative once per epoch
    share, n = h.positive_share(ds, steps)
    assert n == 400 and abs(share - fraction) < 0.06
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x.numpy().mean(axis=(1, 2, 3)) > 0.3, y.numpy() == 1)  # labels travel with images


def test_oversampling_repeats_every_positive():
    images, labels = _labelled_images(100, 10)
    ds, steps = h.make_resampled_dataset(images, labels, batch_size=10, seed=1)
    seen = np.concatenate([np.rint(x.numpy()[:, 0, 0, 0] * 255) for x, y in ds.take(steps)]).astype(int)
    positives_seen = set(seen) & set(range(100, 110))
    assert positives_seen == set(range(100, 110))


def test_augmentation_changes_positives_only():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    images = rng.integers(0, 255, (40, 16, 16, 3)).astype(np.uint8)
    ds, steps = h.make_resampled_dataset(images, labels, batch_size=8, seed=2, augment_positives=True)
    originals = {img.tobytes() for img in images}
    changed = {0: 0, 1: 0}
    for x, y in ds.take(steps):
        for img, label in zip(x.numpy(), y.numpy()):
            back = np.rint(img * 255).astype(np.uint8)
            changed[int(label)] += back.tobytes() not in originals
    assert changed[0] == 0 and changed[1] > 0


def test_undersampling_keeps_every_minority_file_and_balances():
    images, labels = _labelled_images(50, 7)
    x, y = h.undersample(images, labels, seed=0)
    assert int(y.sum()) == 7 and len(y) == 14
    assert set(x[y == 1][:, 0, 0, 0]) == set(range(50, 57))
    x2, _ = h.undersample(images, labels, seed=0)
    np.testing.assert_array_equal(x, x2)


# --------------------------------------------------------------------------- model


def test_cnn_shapes_and_output_bias():
    model = h.build_cnn(32, output_bias=math.log(1 / 10))
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 1)
    assert model.layers[-1].get_weights()[1][0] == pytest.approx(math.log(0.1))
    out = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))


def test_reseeding_gives_identical_initial_weights():
    h.seed_everything(3)
    first = h.build_cnn(16).get_weights()
    h.build_cnn(16)  # consuming random state in between must not matter once we reseed
    h.seed_everything(3)
    second = h.build_cnn(16).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_initial_bias_formula():
    labels = np.r_[np.zeros(600), np.ones(60)]
    assert h.initial_bias(labels) == pytest.approx(math.log(60 / 600))
    assert 1 / (1 + math.exp(-h.initial_bias(labels))) == pytest.approx(60 / 660)


def test_class_weight_formula():
    labels = np.r_[np.zeros(600), np.ones(60)]
    balanced = h.class_weights(labels, "balanced")
    assert balanced == {0: pytest.approx(660 / 1200), 1: pytest.approx(660 / 120)}
    assert balanced[0] * 600 == pytest.approx(balanced[1] * 60)  # both classes weigh the same in total
    assert h.class_weights(labels, 10) == {0: 1.0, 1: 10.0}
    with pytest.raises(ValueError, match="positive_weight"):
        h.class_weights(labels, "heavy")
    with pytest.raises(ValueError, match="positive_weight"):
        h.class_weights(labels, -1)


def test_focal_variant_uses_keras_focal_loss_with_its_parameters():
    import keras

    loss = h.variant_loss(h.Variant("f", focal=(0.3, 1.5)))
    assert isinstance(loss, keras.losses.BinaryFocalCrossentropy)
    assert loss.alpha == 0.3 and loss.gamma == 1.5 and loss.apply_class_balancing
    assert h.variant_loss(h.Variant("plain")) == "binary_crossentropy"


def test_unknown_sampling_is_an_error():
    images, labels = _labelled_images(4, 2)
    with pytest.raises(ValueError, match="sampling"):
        h.training_data(h.Variant("x", sampling="smote"), images, labels, 2, 0)


def test_training_metrics_include_roc_and_pr_auc():
    names = [m.name for m in h.training_metrics()]
    assert {"tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "roc_auc", "pr_auc"} == set(names)


# --------------------------------------------------------------------------- evaluate


def test_evaluation_row_on_a_hand_made_example():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05, 0.4])
    row = h.evaluation_row(labels, scores, threshold=0.5)
    assert (row["TP"], row["FP"], row["TN"], row["FN"]) == (2, 1, 4, 1)
    assert row["accuracy"] == pytest.approx(6 / 8)
    assert row["precision"] == pytest.approx(2 / 3) and row["recall"] == pytest.approx(2 / 3)
    assert row["F1"] == pytest.approx(2 / 3)
    assert row["balanced accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert row["ROC-AUC"] == pytest.approx(11 / 15)  # 11 of the 15 positive-negative pairs ranked right
    assert row["PR-AUC"] == pytest.approx(average_precision_score(labels, scores))


def test_all_negative_predictions_give_zero_precision_not_an_error():
    row = h.evaluation_row(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]))
    assert row["precision"] == 0.0 and row["recall"] == 0.0 and row["TP"] == 0


def test_threshold_selection_on_a_hand_made_example():
    labels = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    # F1 at >=0.8: 2/3*... -> P=1, R=2/3, F1=0.8; at >=0.6: P=3/4, R=1, F1=0.857 (best)
    assert h.threshold_best_f1(labels, scores) == 0.6
    assert h.threshold_for_recall(labels, scores, 0.6) == 0.8  # the highest threshold with recall >= 0.6
    assert h.threshold_for_recall(labels, scores, 1.0) == 0.6
    assert h.threshold_for_recall(labels, scores, 0.3) == 0.9


def test_prior_shift_threshold_matches_bayes_correction():
    assert h.prior_shift_threshold(0.1, 0.5) == pytest.approx(0.1)
    assert h.prior_shift_threshold(0.5, 0.5) == pytest.approx(0.5)
    pi, t = 0.2, 0.05
    thr = h.prior_shift_threshold(pi, t)
    corrected = thr * t / pi / (thr * t / pi + (1 - thr) * (1 - t) / (1 - pi))  # posterior moved to prior t
    assert corrected == pytest.approx(0.5)


def _runs() -> tuple[list, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    val, test = (rng.random(200) < 0.2).astype(int), (rng.random(200) < 0.2).astype(int)
    runs = []
    for seed in (1, 2, 3):
        for name, signal in (("good", 2.0), ("poor", 0.2)):
            noise = np.random.default_rng(seed)
            runs.append(h.ModelRun(name, seed, 1 / (1 + np.exp(-(signal * val + noise.normal(0, 1, 200)))),
                                   1 / (1 + np.exp(-(signal * test + noise.normal(0, 1, 200)))),
                                   {"loss": [1.0, 0.9], "val_loss": [1.0, 1.0], "pr_auc": [0.2, 0.3], "val_pr_auc": [0.2, 0.25]}, 2))
    return runs, val, test


def test_run_metrics_rows_and_tuned_threshold_from_validation():
    runs, val, test = _runs()
    metrics = h.run_metrics(runs, val, test, {"fixed 0.3": lambda r: 0.3})
    assert len(metrics) == 6 * 3 and set(metrics["rule"]) == {"0.5", "tuned", "fixed 0.3"}
    tuned = metrics[(metrics["rule"] == "tuned") & (metrics["seed"] == 1) & (metrics["model"] == "good")]
    assert tuned["threshold"].item() == h.threshold_best_f1(val, runs[0].val_scores)
    row = metrics[(metrics["rule"] == "0.5") & (metrics["seed"] == 2) & (metrics["model"] == "poor")].iloc[0]
    assert row["PR-AUC"] == pytest.approx(average_precision_score(test, runs[3].test_scores))


def test_mean_std_table_and_spread_verdict():
    runs, val, test = _runs()
    metrics = h.run_metrics(runs, val, test)
    table = h.mean_std_table(metrics)
    assert list(table.index) == ["good", "poor"] and table.loc["good", "seeds"] == 3
    values = metrics[(metrics["rule"] == "0.5") & (metrics["model"] == "good")]["PR-AUC"]
    assert table.loc["good", "PR-AUC"] == f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"
    assert "recall @tuned" in table.columns and "recall @0.5" in table.columns
    lines = h.spread_verdict(metrics)
    assert lines[0].startswith("Reference: good") and "poor" in lines[1] and "larger than" in lines[1]
    close = metrics[metrics["rule"] == "0.5"].copy()
    close.loc[close["model"] == "poor", "PR-AUC"] = close.loc[close["model"] == "good", "PR-AUC"].to_numpy() + [0.02, -0.02, 0.0]
    assert "within" in h.spread_verdict(close, reference="good")[1]


def test_metric_bars_show_one_panel_per_metric():
    import matplotlib

    matplotlib.use("Agg")
    runs, val, test = _runs()
    fig = h.plot_metric_bars(h.run_metrics(runs, val, test))
    assert [ax.get_title() for ax in fig.axes] == ["PR-AUC", "recall @ 0.5", "recall @ tuned"]


def test_rule_table_summarises_each_rule():
    runs, val, test = _runs()
    table = h.rule_table(h.run_metrics(runs[:1], val, test))
    assert list(table.index) == ["0.5", "tuned"] and table.loc["0.5", "threshold"] == "0.500 ± 0.000"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_auc_functions_equal_sklearn_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.1).astype(int)
    labels[:2] = [0, 1]
    scores = np.round(rng.random(300) + 0.3 * labels, 1)  # rounding makes many ties
    assert h.fast_roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert h.fast_average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_paired_bootstrap_sees_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    labels = (rng.random(600) < 0.1).astype(int)
    good = labels * 1.0 + rng.normal(0, 0.3, 600)
    poor = labels * 0.2 + rng.normal(0, 0.3, 600)
    diff, low, high = h.paired_bootstrap(labels, good, poor, "PR-AUC", n_boot=300)
    assert low > 0 and low <= diff <= high
    assert "larger than" in h.describe_difference("good", "poor", diff, low, high)
    same = h.paired_bootstrap(labels, good, good, "ROC-AUC", n_boot=50)
    assert same == (0.0, 0.0, 0.0)
    assert "within" in h.describe_difference("a", "b", 0.01, -0.02, 0.04)


# --------------------------------------------------------------------------- plot


def test_plots_draw_without_error(flat_root: Path):
    import matplotlib

    matplotlib.use("Agg")
    files = h.find_class_files(flat_root)
    assert len(h.plot_sample_grid(files, per_class=3).axes) == 6
    run = h.ModelRun("m", 1, np.zeros(3), np.array([0.2, 0.7, 0.4]),
                     {k: [1.0, 0.5] for k in ("loss", "val_loss", "pr_auc", "val_pr_auc")}, 2)  # fmt: skip
    fig = h.plot_training_curves([run], "m")
    assert [len(ax.lines) for ax in fig.axes] == [2, 3]  # train + validation; and the kept-epoch dot
    fig = h.plot_score_curves([run, h.ModelRun("m", 2, np.zeros(3), np.array([0.1, 0.9, 0.8]), run.history, 1)],
                              np.array([0, 1, 1]))  # fmt: skip
    assert len(fig.axes) == 2
    ax = h.plot_confusion_matrix(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]), ["cats", "dogs"], "m")
    assert [t.get_text() for t in ax.texts] == ["1", "0", "1", "1"]


# --------------------------------------------------------------------------- record results


def test_results_round_trip_and_atomic_write(flat_root: Path, tmp_path: Path):
    splits = h.split_files(h.find_class_files(flat_root), COUNTS, "dogs", seed=0)
    run = h.ModelRun("m", 1, np.linspace(0, 1, len(splits["val"])), np.linspace(0, 1, len(splits["test"])),
                     {"loss": [1.0]}, 1)  # fmt: skip
    out = tmp_path / "run"
    params = {"epochs": 2, "output_dir": str(out)}
    path = h.save_results(out, "exp", params, splits, flat_root, ["cats", "dogs"], [run])
    assert path == out / "results" / "exp.json"
    assert [p.name for p in path.parent.iterdir()] == ["exp.json"]  # no temporary file left behind
    loaded = h.load_results(out)["exp"]
    assert loaded["parameters"] == {"epochs": 2}  # output_dir, the file's own folder, is left out
    assert loaded["test"]["labels"] == splits["test"].labels.tolist()
    assert loaded["test"]["files"][0].startswith("train/")
    runs, val_labels, test_labels = h.runs_from_results(h.load_results(out))
    assert runs[0].model == "m" and np.allclose(runs[0].test_scores, run.test_scores)
    np.testing.assert_array_equal(test_labels, splits["test"].labels)


def test_results_on_different_test_sets_are_not_compared(flat_root: Path, tmp_path: Path):
    for name, seed in (("a", 0), ("b", 1)):
        splits = h.split_files(h.find_class_files(flat_root), COUNTS, "dogs", seed=seed)
        run = h.ModelRun("m", 1, np.zeros(len(splits["val"])), np.zeros(len(splits["test"])), {"loss": [1.0]}, 1)
        h.save_results(tmp_path, name, {}, splits, flat_root, ["cats", "dogs"], [run])
    with pytest.raises(h.DataError, match="different test"):
        h.runs_from_results(h.load_results(tmp_path))


def test_load_results_of_a_missing_run_folder_says_what_to_do(tmp_path: Path):
    with pytest.raises(h.DataError, match="run the experiment notebooks"):
        h.load_results(tmp_path / "nothing")


# --------------------------------------------------------------------------- reproducibility


def _data(root: Path) -> tuple[dict, dict]:
    data = h.prepare_data(str(root), "dogs", [14, 10, 8, 8], [14, 4, 8, 8], split_seed=0, image_size=32)
    return data.splits, data.images


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(tiny_demo_root: Path):
    splits, images = _data(tiny_demo_root)
    variant = h.Variant("oversampled", sampling="oversample", augment_positives=True)
    first = h.train_variant(variant, 7, images, splits, batch_size=8, max_epochs=2, patience=0, verbose=0)
    second = h.train_variant(variant, 7, images, splits, batch_size=8, max_epochs=2, patience=0, verbose=0)
    np.testing.assert_array_equal(first.test_scores, second.test_scores)
    assert first.history == second.history


@pytest.mark.slow
def test_a_reused_compiled_model_trains_exactly_like_a_fresh_one(tiny_demo_root: Path):
    splits, images = _data(tiny_demo_root)
    variants = [h.Variant("plain"), h.Variant("weighted", class_weight={0: 1.0, 1: 5.0}),
                h.Variant("oversampled", sampling="oversample"), h.Variant("bias", output_bias=-1.0),
                h.Variant("focal", focal=(0.25, 2.0)), h.Variant("plain again")]  # fmt: skip
    train = lambda v, seed: h.train_variant(v, seed, images, splits, batch_size=8, max_epochs=3, patience=2, verbose=0)  # noqa: E731
    fresh = {}
    for v in variants:
        h._COMPILED_MODELS.clear()  # a newly built and compiled model for every variant
        fresh[v.name] = train(v, 3)
    train(h.Variant("other seed, other data", train_split="train_balanced"), 11)  # leaves trained state behind
    for v in reversed(variants):  # reuses the compiled models, in another order, after other training
        reused = train(v, 3)
        np.testing.assert_array_equal(reused.test_scores, fresh[v.name].test_scores, err_msg=v.name)
        assert reused.history == fresh[v.name].history, v.name
    assert len(h._COMPILED_MODELS) == 3  # plain, output bias -1, focal: one compiled model each


@pytest.mark.slow
def test_early_stopping_keeps_the_best_validation_epoch(tiny_demo_root: Path):
    splits, images = _data(tiny_demo_root)
    run = h.train_variant(h.Variant("balanced", train_split="train_balanced"), 1, images, splits, 8, 6, 2, verbose=0)
    val_pr = run.history["val_pr_auc"]
    assert run.best_epoch == int(np.argmax(val_pr)) + 1 and len(val_pr) <= 6
    # the kept weights are the best epoch's: the scores give that epoch's validation PR-AUC (Keras' approximation)
    assert h.fast_average_precision(splits["val"].labels, run.val_scores) == pytest.approx(max(val_pr), abs=0.05)


# --------------------------------------------------------------------------- bad data


def test_data_check_keeps_exactly_the_good_files_and_names_every_bad_one(messy_root, unreadable_for_root):
    root, good, bad = messy_root
    check = h.check_images(root, 16)
    usable = {str(p.relative_to(root)) for files in check.usable.values() for p in files}
    assert usable == good
    reasons = {p.name: reason for p, reason in check.skipped}
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    table = check.table()
    assert table.loc["cats", "usable images"] == 10 and table.loc["dogs", "usable images"] == 11
    assert (table["files found"] == table["usable images"] + table["skipped"]).all()
    assert check.images.shape == (21, 16, 16, 3) and check.images.dtype == np.uint8
    lines = check.skipped_lines()
    assert any(line.startswith("train/cats/truncated.jpg: ") for line in lines)


def test_decoded_images_follow_their_files(messy_root, unreadable_for_root):
    root, _, _ = messy_root
    check = h.check_images(root, 16)
    grey = check.images[check.rows[str(root / "train" / "cats" / "grey.jpg")]]
    assert np.array_equal(grey[..., 0], grey[..., 1])  # grayscale converted to RGB: equal channels
    splits = h.split_files(check.usable, {"cats": [5, 0, 0, 5], "dogs": [5, 0, 0, 5]}, "dogs", seed=0)
    assert all(f in check.rows for split in splits.values() for f in split.files)  # only usable files are split
    assert check.images_for(splits["test"]).shape == (10, 16, 16, 3)


def test_a_class_without_usable_images_is_an_error(tmp_path: Path):
    write_images(tmp_path / "train" / "cats", 3, 0)
    (tmp_path / "train" / "dogs").mkdir(parents=True)
    (tmp_path / "train" / "dogs" / "notes.txt").write_text("no pictures here")
    with pytest.raises(h.DataError, match=r"dogs.*no usable images"):
        h.check_images(tmp_path, 8)


def test_kaggle_flat_layout_is_recognised(tmp_path: Path):
    write_images(tmp_path / "train", 2, 0, prefix="cat")
    write_images(tmp_path / "train", 2, 255, prefix="dog")
    with pytest.raises(h.DataError, match=r"Kaggle flat layout.*arrange-kaggle"):
        h.find_class_files(tmp_path)


def test_more_than_two_class_folders_need_the_classes_parameter(flat_root: Path):
    write_images(flat_root / "train" / "birds", 2, 128)
    with pytest.raises(h.DataError, match=r"exactly two class folders.*birds.*classes="):
        h.find_class_files(flat_root)
    assert list(h.find_class_files(flat_root, classes=["dogs", "cats"])) == ["cats", "dogs"]
    with pytest.raises(h.DataError, match="must name two"):
        h.find_class_files(flat_root, classes=["cats", "fish"])


# --------------------------------------------------------------------------- fast decoding and the image cache


def _photo_like(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write a JPEG with smooth gradients, edges and noise, like a photo's mix of detail."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    img = Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        draw.ellipse([x0, y0, x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 120))], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path, quality=90)
    return path


@pytest.mark.parametrize(("source", "target", "ratio"), [((500, 375), 64, 4), ((500, 375), 32, 8), ((1100, 1030), 64, 8), ((256, 256), 64, 4), ((255, 300), 64, 2), ((300, 200), 128, 1), ((500, 375), 400, 1)])
def test_jpeg_dct_scale_is_the_smallest_that_keeps_the_target_size(tmp_path: Path, source, target, ratio):
    path = _photo_like(tmp_path / "x.jpg", *source)
    plan = h.precheck_file(path, target)
    assert plan == h.DecodePlan(ratio, "area" if min(source) >= target else "bilinear")
    img = h.decode_image(str(path), target, plan).numpy()
    assert img.shape == (target, target, 3) and img.dtype == np.uint8
    if ratio > 1:  # what libjpeg returns at that scale still has at least the target size
        import tensorflow as tf

        scaled = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3, ratio=ratio)
        assert min(scaled.shape[:2]) >= target


def test_jpeg_size_reads_the_frame_header_or_defers_to_pillow(tmp_path: Path):
    from PIL import Image

    baseline = _photo_like(tmp_path / "baseline.jpg", 321, 123)
    progressive = tmp_path / "progressive.jpg"
    Image.open(baseline).save(progressive, progressive=True, quality=80)
    for p in (baseline, progressive):
        assert h.jpeg_size(p.read_bytes()[:4096]) == (123, 321)
    big_exif = tmp_path / "big-exif.jpg"  # a 60 kB metadata segment pushes the frame header past the bytes read
    Image.open(baseline).save(big_exif, exif=b"Exif\x00\x00" + bytes(60_000))
    assert h.jpeg_size(big_exif.read_bytes()[:4096]) is None
    assert h.precheck_file(big_exif, 32) == h.precheck_file(baseline, 32) == h.DecodePlan(2, "area")
    assert h.jpeg_size(b"\xff\xd8\xff\xe0 not really a jpeg") is None


def test_a_jpeg_whose_header_claims_too_many_pixels_is_skipped_before_decoding(tmp_path: Path):
    data = bytearray(_photo_like(tmp_path / "x.jpg", 64, 48).read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") + (30000).to_bytes(2, "big")
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    assert h.precheck_file(tmp_path / "bomb.jpg", 64).startswith("too large (30000x20000 pixels")


# DCT-scaled decoding against full decoding with an antialiased resize (the careful way): mean |difference| per
# image, in grey levels of 255, averaged over the photos, and the worst photo. The deeper the scale, the larger
# the difference (1/4 at 64 px, 1/8 at 32 px on 500 x 375 photos). For scale: the post's plain bilinear resize of
# fully decoded photos differs from the same reference by 6.7 on average at 64 px.
DCT_TOLERANCE = {64: (3.0, 10.0), 32: (4.0, 13.0)}


def _fast_and_reference(paths: list[Path], target: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode files with their DCT-scaled plans, and again in full with an antialiased resize."""
    plans = [h.precheck_file(p, target) for p in paths]
    assert all(p.ratio > 1 for p in plans)  # the test is about scaled decoding
    fast, _ = h.decode_files(paths, target, plans=plans)
    full, _ = h.decode_files(paths, target)
    return fast.astype(int), full.astype(int)


@pytest.mark.parametrize("target", [64, 32])
def test_dct_scaled_decoding_matches_full_decoding_within_tolerance(tmp_path: Path, target: int):
    paths = [_photo_like(tmp_path / f"{i}.jpg", 400 + 37 * i, 300 + 23 * i, seed=i) for i in range(6)]
    fast, full = _fast_and_reference(paths, target)
    per_image = np.abs(fast - full).reshape(len(paths), -1).mean(axis=1)
    assert per_image.mean() <= DCT_TOLERANCE[target][0] and per_image.max() <= DCT_TOLERANCE[target][1], per_image


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
@pytest.mark.parametrize("target", [64, 32])
def test_dct_scaled_decoding_matches_full_decoding_on_real_photos(target: int):
    files = sorted((REAL_SAMPLE / "train").glob("*/*.jpg"))[::5]  # 400 photos, both classes
    files = [f for f in files if h.precheck_file(f, target).ratio > 1]
    fast, full = _fast_and_reference(files, target)
    per_image = np.abs(fast - full).reshape(len(files), -1).mean(axis=1)
    assert per_image.mean() <= DCT_TOLERANCE[target][0] and per_image.max() <= DCT_TOLERANCE[target][1], per_image.max()


def test_decode_keeps_files_in_order_and_reports_failures_without_a_second_copy(tmp_path: Path):
    good = write_images(tmp_path, 4, 0)
    for i, p in enumerate(good):
        from PIL import Image

        Image.fromarray(np.full((20, 20, 3), 40 * (i + 1), np.uint8)).save(p)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    seen: list[tuple[int, int]] = []
    images, failures = h.decode_files([good[0], bad, good[1], good[2], good[3]], 8, progress=lambda d, t: seen.append((d, t)))
    assert list(failures) == [1] and "JPEG" in failures[1]
    assert images.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), [40, 80, 120, 160], atol=2)
    assert seen and seen[-1] == (4, 5)


def test_second_check_reads_the_cache_and_returns_the_same_images(flat_root: Path, private_image_cache: Path):
    first = h.check_images(flat_root, 16)
    second = h.check_images(flat_root, 16)
    assert (first.source, second.source) == ("decoded", "cache")
    np.testing.assert_array_equal(first.images, second.images)
    h.wait_for_cache_writes()
    assert first.rows == second.rows and first.usable == second.usable
    entries = list(private_image_cache.glob(f"{flat_root.name}-16px-*/*"))
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {"images.npy", "index.json"}
    assert np.load(entries[0] / "images.npy").dtype == np.uint8
    assert h.check_images(flat_root, 12).source == "decoded"  # another image size is another entry


@pytest.mark.parametrize(
    "root, file",
    [("/data/pets", "/data/pets/train/cats/a.jpg"), (".", "train/cats/a.jpg"), ("pets", "pets/train/a b/é.jpg"),
     ("/", "/train/a.jpg"), ("x/../pets", "x/../pets/train/a.jpg"), ("/data/pets", "/data/pets2/train/a.jpg"), (".", "/abs/a.jpg")],
)  # fmt: skip
def test_relative_names_agree_with_os_path_relpath(root: str, file: str):
    assert h.relative_names(Path(root), [Path(file)]) == [os.path.relpath(file, root)]


def test_the_cache_is_written_in_the_background_and_a_later_check_waits_for_it(flat_root: Path, private_image_cache: Path, monkeypatch):
    import threading

    release, real_save = threading.Event(), h.save_cached_images

    def slow_save(*args: Any) -> None:
        assert release.wait(timeout=60), "the test never released the writer"
        real_save(*args)

    monkeypatch.setattr(h, "save_cached_images", slow_save)
    try:
        first = h.check_images(flat_root, 16)  # returns while its cache entry is still held back
        assert first.source == "decoded" and len(first.rows) == 20
        assert not list(private_image_cache.glob(f"{flat_root.name}-16px-*/*"))
    finally:
        release.set()
    second = h.check_images(flat_root, 16)  # waits for the write of this process, then reads it
    assert second.source == "cache"
    np.testing.assert_array_equal(first.images, second.images)


@pytest.mark.parametrize("change", ["add", "remove", "rewrite", "touch"])
def test_cache_is_rebuilt_when_a_file_changes(flat_root: Path, private_image_cache: Path, change: str):
    h.check_images(flat_root, 16)
    cats = flat_root / "train" / "cats"
    target = cats / "cat.0.jpg"
    if change == "add":
        write_images(cats, 1, 128, prefix="new")
    elif change == "remove":
        target.unlink()
    elif change == "rewrite":
        from PIL import Image

        Image.fromarray(np.full((20, 20, 3), 99, np.uint8)).save(target)
    else:
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = h.check_images(flat_root, 16)
    assert again.source == "decoded"
    h.wait_for_cache_writes()
    assert len(again.usable["cats"]) == {"add": 13, "remove": 11}.get(change, 12)
    if change == "rewrite":
        assert again.images[again.rows[str(target)]].mean() == pytest.approx(99, abs=2)
    assert len(list(private_image_cache.glob(f"{flat_root.name}-16px-*/*"))) == 1  # the old entry is removed
    assert h.check_images(flat_root, 16).source == "cache"


def test_damaged_or_half_built_cache_entries_are_never_used(flat_root: Path, private_image_cache: Path):
    first = h.check_images(flat_root, 16)
    h.wait_for_cache_writes()
    (entry,) = private_image_cache.glob(f"{flat_root.name}-16px-*/*")
    (entry / "index.json").write_text('{"format": ')  # damaged by hand or by the disk
    partial = entry.parent / f".building-{entry.name}-killed"  # what a killed writer leaves
    partial.mkdir()
    (partial / "images.npy").write_bytes(b"\x93NUMPY truncated")
    again = h.check_images(flat_root, 16)
    assert again.source == "decoded"
    np.testing.assert_array_equal(first.images, again.images)
    assert h.check_images(flat_root, 16).source == "cache"  # the damaged entry was replaced


def test_cache_off_or_unwritable_still_gives_the_images(flat_root: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(h.IMAGE_CACHE_ENV, "off")
    assert h.check_images(flat_root, 16).source == "decoded"
    assert h.check_images(flat_root, 16).source == "decoded"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(h.IMAGE_CACHE_ENV, str(blocker))
    check = h.check_images(flat_root, 16)
    assert len(check.rows) == 20
    h.wait_for_cache_writes()
    assert "image cache not written" in capsys.readouterr().out


def test_two_processes_building_the_cache_at_once_agree_and_leave_one_whole_entry(tiny_demo_root: Path, tmp_path: Path):
    import subprocess
    import sys

    cache = tmp_path / "cache"
    code = ("import sys, hashlib, helpers as h; c = h.check_images(sys.argv[1], 24); "
            "print(c.source, hashlib.sha256(c.images.tobytes()).hexdigest())")  # fmt: skip
    env = {**os.environ, h.IMAGE_CACHE_ENV: str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tiny_demo_root)], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0][1] == outputs[1][1]  # the same images, whoever published first
    slot_entries = list(cache.glob("*/*")) + list(cache.glob("*/.*"))
    assert len(slot_entries) == 1 and not slot_entries[0].name.startswith(".")  # no half-built copy left


def test_a_second_publisher_of_the_same_entry_keeps_the_first(flat_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(h.IMAGE_CACHE_ENV, str(tmp_path / "cache"))
    check = h.check_images(flat_root, 16)
    h.wait_for_cache_writes()
    (entry,) = (tmp_path / "cache").glob("*/*")
    candidates = [(c, f) for c, files in check.usable.items() for f in files]
    outcomes = list(range(len(candidates)))
    h.save_cached_images(entry, flat_root, candidates, np.zeros_like(check.images), outcomes)  # loses the race
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]
    np.testing.assert_array_equal(np.load(entry / "images.npy"), check.images)  # the first, whole entry stays
