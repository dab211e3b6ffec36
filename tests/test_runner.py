"""Tests for run_series.py: parameters, failures, reproducibility, and a run on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import run_series as rs
from conftest import REAL_SAMPLE

FIRST = rs.NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb"
SMALL = [
    "-p", "image_size=32", "-p", "epochs=1", "-p", "batch_size=16",
    "-p", "negative_split_counts=[40, 40, 40, 40]", "-p", "positive_split_counts=[40, 8, 12, 12]",
]  # fmt: skip


def test_parse_assignment_reads_yaml_values():
    assert rs.parse_assignment("epochs=10") == ("epochs", 10)
    assert rs.parse_assignment("positive_split_counts=[1, 2]") == ("positive_split_counts", [1, 2])
    assert rs.parse_assignment("positive_class=cats") == ("positive_class", "cats")
    assert rs.parse_assignment("data_root=") == ("data_root", "")
    with pytest.raises(rs.ConfigError, match="name=value"):
        rs.parse_assignment("epochs")


def test_load_config_needs_an_existing_mapping(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("epochs: 3\npositive_class: cats\n")
    assert rs.load_config(str(cfg)) == {"epochs": 3, "positive_class": "cats"}
    cfg.write_text("- 1\n- 2\n")
    with pytest.raises(rs.ConfigError, match="mapping"):
        rs.load_config(str(cfg))
    with pytest.raises(rs.ConfigError, match="does not exist"):
        rs.load_config(str(tmp_path / "missing.yaml"))


def test_notebook_declares_the_documented_parameters():
    declared = rs.notebook_parameters(FIRST)
    for name in ("data_root", "image_size", "batch_size", "epochs", "seed", "positive_class",
                 "negative_split_counts", "positive_split_counts", "output_dir"):  # fmt: skip
        assert name in declared
    assert declared["positive_class"] == "'dogs'" or declared["positive_class"] == '"dogs"'


def test_unknown_parameter_is_an_error_listing_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert rs.main(["--out", str(tmp_path), "-p", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) epoch" in err and "epochs" in err


def test_select_notebooks_in_name_order_and_unknown_pattern():
    assert rs.select_notebooks(None)[0] == FIRST
    with pytest.raises(rs.ConfigError, match="no notebooks"):
        rs.select_notebooks(["99_nothing"])


@pytest.mark.slow
def test_failing_notebook_is_named_with_its_error_and_exit_is_nonzero(tmp_path: Path, capsys):
    status = rs.main(["--out", str(tmp_path), *SMALL, "-p", "positive_class=birds"])
    out = capsys.readouterr()
    assert status == 1
    assert "01_balanced_vs_unbalanced.ipynb" in out.out and "failed" in out.out
    assert "DataError" in out.out and "positive_class='birds'" in out.out
    assert (tmp_path / FIRST.name).exists()  # the executed copy is kept, error included
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.slow
def test_two_runs_with_one_seed_write_identical_results(tmp_path: Path):
    for name in ("a", "b"):
        assert rs.main(["--out", str(tmp_path / name), *SMALL]) == 0
    a = (tmp_path / "a" / "results" / "01_balanced_vs_unbalanced.json").read_text()
    b = (tmp_path / "b" / "results" / "01_balanced_vs_unbalanced.json").read_text()
    assert a == b
    result = json.loads(a)
    assert result["parameters"]["epochs"] == 1 and result["parameters"]["image_size"] == 32
    assert set(result["metrics"]) == {"train_balanced", "train_unbalanced"}
    assert len(result["test"]["labels"]) == 52 and sum(result["test"]["labels"]) == 12
    assert (tmp_path / "a" / FIRST.name).exists()


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
def test_first_notebook_runs_on_real_photos(tmp_path: Path):
    status = rs.main(["--data-root", str(REAL_SAMPLE), "--out", str(tmp_path), *SMALL[:6],
                      "-p", "negative_split_counts=[150, 150, 150, 150]", "-p", "positive_split_counts=[150, 15, 30, 30]"])  # fmt: skip
    assert status == 0
    result = json.loads((tmp_path / "results" / "01_balanced_vs_unbalanced.json").read_text())
    assert result["parameters"]["data_root"] == str(REAL_SAMPLE.resolve())
    assert len(result["test"]["files"]) == 180
    assert all(f.startswith(("train/cats/", "train/dogs/")) for f in result["test"]["files"])
    for row in result["metrics"].values():
        assert 0.0 <= row["ROC-AUC"] <= 1.0 and row["TP"] + row["FN"] == 30
