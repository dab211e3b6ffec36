"""Tests for unbalanced/results.py: results files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import COUNTS

from unbalanced.files import find_class_files
from unbalanced.results import load_results, runs_from_results, save_results
from unbalanced.splits import split_files
from unbalanced.storage import DataError
from unbalanced.training import ModelRun


def test_results_round_trip_and_atomic_write(flat_root: Path, tmp_path: Path):
    splits = split_files(find_class_files(flat_root), COUNTS, "dogs", seed=0)
    run = ModelRun("m", 1, np.linspace(0, 1, len(splits["val"])), np.linspace(0, 1, len(splits["test"])),
                     {"loss": [1.0]}, 1)  # fmt: skip
    out = tmp_path / "run"
    params = {"epochs": 2, "output_dir": str(out)}
    path = save_results(out, "exp", params, splits, flat_root, ["cats", "dogs"], [run])
    assert path == out / "results" / "exp.json"
    assert [p.name for p in path.parent.iterdir()] == ["exp.json"]  # no temporary file left behind
    loaded = load_results(out)["exp"]
    assert loaded["parameters"] == {"epochs": 2}  # output_dir, the file's own folder, is left out
    assert loaded["test"]["labels"] == splits["test"].labels.tolist()
    assert loaded["test"]["files"][0].startswith("train/")
    runs, val_labels, test_labels = runs_from_results(load_results(out))
    assert runs[0].model == "m" and np.allclose(runs[0].test_scores, run.test_scores)
    np.testing.assert_array_equal(test_labels, splits["test"].labels)


def test_results_on_different_test_sets_are_not_compared(flat_root: Path, tmp_path: Path):
    for name, seed in (("a", 0), ("b", 1)):
        splits = split_files(find_class_files(flat_root), COUNTS, "dogs", seed=seed)
        run = ModelRun("m", 1, np.zeros(len(splits["val"])), np.zeros(len(splits["test"])), {"loss": [1.0]}, 1)
        save_results(tmp_path, name, {}, splits, flat_root, ["cats", "dogs"], [run])
    with pytest.raises(DataError, match="different test"):
        runs_from_results(load_results(tmp_path))


def test_load_results_of_a_missing_run_folder_says_what_to_do(tmp_path: Path):
    with pytest.raises(DataError, match="run the experiment notebooks"):
        load_results(tmp_path / "nothing")
