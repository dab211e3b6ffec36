"""End-to-end runs of the study's notebooks through the runner: results, reproducibility, bad data, real photos."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import REAL_SAMPLE

import run_series
from unbalanced.runner.plan import NOTEBOOK_DIR

FIRST = NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb"
SMALL = [
    "-p", "image_size=32", "-p", "epochs=1", "-p", "batch_size=16", "-p", "seeds=[1]",
    "-p", "negative_split_counts=[40, 40, 40, 40]", "-p", "positive_split_counts=[40, 8, 12, 12]",
]  # fmt: skip


@pytest.mark.slow
def test_a_failing_notebook_does_not_stop_the_others(tmp_path: Path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("variants:\n  02_class_weights: [{positive_weight: -1}]\n")
    out = tmp_path / "run"
    status = run_series.main(["--notebooks", "02", "04", "--out", str(out), "--config", str(cfg), *SMALL])
    printed = capsys.readouterr().out
    assert status == 1
    assert "02_class_weights-positive_weight--1.ipynb" in printed and "failed" in printed
    assert "ValueError" in printed and "positive_weight must be a positive number" in printed
    assert "04_undersampling.ipynb" in printed and "passed" in printed
    assert (out / "02_class_weights-positive_weight--1.failed.ipynb").exists()  # kept, error included
    assert not (out / "02_class_weights-positive_weight--1.ipynb").exists()
    assert (out / "04_undersampling.ipynb").exists() and (out / "results" / "04_undersampling.json").exists()
    assert not list(out.glob(".*partial*"))


@pytest.mark.slow
def test_two_runs_with_one_seed_write_byte_identical_results(tmp_path: Path):
    assert run_series.main(["--notebooks", "01", "04", "--out", str(tmp_path / "a"), *SMALL]) == 0
    assert run_series.main(["--notebooks", "01", "04", "--out", str(tmp_path / "b"), *SMALL]) == 0
    for experiment in ("01_balanced_vs_unbalanced", "04_undersampling"):
        a = (tmp_path / "a" / "results" / f"{experiment}.json").read_text()
        b = (tmp_path / "b" / "results" / f"{experiment}.json").read_text()
        assert a == b, experiment
    a = (tmp_path / "a" / "results" / "01_balanced_vs_unbalanced.json").read_text()
    result = json.loads(a)
    assert result["parameters"]["epochs"] == 1 and result["parameters"]["image_size"] == 32
    assert {r["model"] for r in result["runs"]} == {"balanced", "unbalanced"}
    assert len(result["test"]["labels"]) == 52 and sum(result["test"]["labels"]) == 12
    assert (tmp_path / "a" / FIRST.name).exists()


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
def test_first_notebook_runs_on_real_photos(tmp_path: Path):
    status = run_series.main(["--notebooks", "01", "--data-root", str(REAL_SAMPLE), "--out", str(tmp_path), *SMALL[:8],
                      "-p", "negative_split_counts=[150, 150, 150, 150]", "-p", "positive_split_counts=[150, 15, 30, 30]"])  # fmt: skip
    assert status == 0
    result = json.loads((tmp_path / "results" / "01_balanced_vs_unbalanced.json").read_text())
    assert result["parameters"]["data_root"] == str(REAL_SAMPLE.resolve())
    assert len(result["test"]["files"]) == 180
    assert all(f.startswith(("train/cats/", "train/dogs/")) for f in result["test"]["files"])
    assert sum(result["test"]["labels"]) == 30
    for run in result["runs"]:
        assert len(run["test_scores"]) == 180 and all(0.0 <= s <= 1.0 for s in run["test_scores"])


@pytest.mark.slow
def test_whole_series_with_variants_and_summary(tmp_path: Path):
    status = run_series.main(["--out", str(tmp_path), *SMALL, "-p", "seeds=[1, 2]"])
    assert status == 0
    results = sorted(p.stem for p in (tmp_path / "results").glob("*.json"))
    assert results == ["01_balanced_vs_unbalanced", "02_class_weights_10", "02_class_weights_25",
                       "02_class_weights_balanced", "03_oversampling", "04_undersampling",
                       "05_oversampling_augmentation", "06_bias_and_threshold", "07_focal_loss"]  # fmt: skip
    for name in results:
        runs = json.loads((tmp_path / "results" / f"{name}.json").read_text())["runs"]
        expected = [1, 1, 2, 2] if name.startswith("01") else [1, 2]  # 01 trains two models per seed
        assert sorted(r["seed"] for r in runs) == expected
    summary = (tmp_path / "99_summary.ipynb").read_text()
    for model in ("balanced", "class weight 25", "oversampled + augmented", "focal loss", "unbalanced + initial bias"):
        assert model in summary
    assert "seed-to-seed spread" in summary


@pytest.mark.slow
def test_messy_data_root_trains_on_exactly_the_good_files_and_names_the_rest(messy_root, tmp_path: Path):
    root, good, bad = messy_root
    if os.geteuid() == 0:  # the kernel runs as root, which reads chmod-000 files: there it is a good image
        good = good | {"train/cats/locked.jpg"}
        bad = {k: v for k, v in bad.items() if k != "locked.jpg"}
    out = tmp_path / "run"
    status = run_series.main(["--notebooks", "01", "--data-root", str(root), "--out", str(out), "-p", "image_size=16",
                      "-p", "epochs=1", "-p", "seeds=[1]", "-p", "batch_size=4",
                      "-p", "negative_split_counts=[3, 3, 2, 2]", "-p", "positive_split_counts=[3, 1, 2, 2]"])  # fmt: skip
    assert status == 0
    result = json.loads((out / "results" / "01_balanced_vs_unbalanced.json").read_text())
    assert set(result["test"]["files"]) <= good and len(result["test"]["files"]) == 4
    executed = (out / FIRST.name).read_text()
    for name in bad:
        assert name in executed  # every skipped file is named in the notebook's data check
    assert f"skipped {len(bad)} file(s)" in executed
