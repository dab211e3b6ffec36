"""Recording results: one JSON file per experiment in the run folder, and reading a run folder back for the summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .splits import Split
from .storage import DataError, resolve_path, write_json_atomic
from .training import ModelRun

RESULTS_DIRNAME = "results"


def save_results(
    output_dir: str | os.PathLike[str],
    experiment: str,
    parameters: Mapping[str, Any],
    splits: Mapping[str, Split],
    data_root: Path,
    classes: Sequence[str],
    runs: Sequence[ModelRun],
) -> Path:
    """Record an experiment's parameters, test files and labels, and every run's scores and history as JSON."""
    payload = {
        "experiment": experiment,
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},  # the file's own folder: left out
        "classes": {"negative": classes[0], "positive": classes[1]},
        "val": {"labels": splits["val"].labels},
        "test": {"files": [Path(os.path.relpath(f, data_root)).as_posix() for f in splits["test"].files],
                 "labels": splits["test"].labels},  # fmt: skip
        "runs": [
            {"model": r.model, "seed": r.seed, "best_epoch": r.best_epoch, "history": r.history,
             "val_scores": np.round(r.val_scores, 6), "test_scores": np.round(r.test_scores, 6)}  # fmt: skip
            for r in runs
        ],
    }
    return write_json_atomic(resolve_path(output_dir) / RESULTS_DIRNAME / f"{experiment}.json", payload)


def load_results(output_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read every results file of a run folder, keyed by experiment name."""
    folder = resolve_path(output_dir) / RESULTS_DIRNAME
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist: run the experiment notebooks with output_dir={str(output_dir)!r} first")
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def runs_from_results(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[ModelRun], np.ndarray, np.ndarray]:
    """Collect every run of every experiment; check they share one validation and test set; return runs and labels."""
    runs: list[ModelRun] = []
    reference: tuple[str, Any] | None = None
    for name, result in results.items():
        key = (result["test"]["files"], result["val"]["labels"])
        if reference is None:
            reference = (name, key)
        elif key != reference[1]:
            raise DataError(f"results {name!r} and {reference[0]!r} were scored on different test or validation sets; "
                            "compare runs made with the same data root, split counts and split_seed")  # fmt: skip
        runs += [ModelRun(r["model"], r["seed"], np.asarray(r["val_scores"]), np.asarray(r["test_scores"]),
                          r["history"], r["best_epoch"]) for r in result["runs"]]  # fmt: skip
    if reference is None:
        raise DataError("no results files found: run the experiment notebooks first")
    first = next(iter(results.values()))
    return runs, np.asarray(first["val"]["labels"]), np.asarray(first["test"]["labels"])
