"""End-to-end runs of the study's notebooks through the runner, on small data: the whole series and its summary,
byte-identical records for one seed, bad files named, a failing parameter reported, and real photos."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import REAL_SAMPLE

import run_series
from unbalanced.runner.plan import NOTEBOOK_DIR

FIRST = NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb"
SMALL = [
    "-p", "image_size=16", "-p", "epochs=2", "-p", "patience=1", "-p", "batch_size=16", "-p", "split_seeds=[0, 1, 2]",
    "-p", "negative_split_counts=[40, 30, 40]", "-p", "positive_split_counts=[8, 10, 10]", "-p", "more_positives=30",
]  # fmt: skip


def _records(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "results").glob("*.json"))}


@pytest.mark.slow
def test_two_runs_with_one_seed_write_byte_identical_records(tmp_path: Path):
    for name in ("a", "b"):
        assert run_series.main(["--notebooks", "01", "04", "--data-root", "demo", "--out", str(tmp_path / name), *SMALL]) == 0
    a, b = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert len(a) == 3 * 3 + 2 * 2 + 3 and a == b  # 01: three recipes; 04: two settings on two tuning splits, the frozen one on three


@pytest.mark.slow
def test_a_notebook_with_a_bad_setting_fails_by_name_and_the_rest_still_run(tmp_path: Path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("variants:\n  02_class_weights: [{class_weight_grid: [-1.0]}]\n")
    out = tmp_path / "run"
    status = run_series.main(["--notebooks", "02", "06", "--data-root", "demo", "--out", str(out), "--config", str(cfg), *SMALL])
    printed = capsys.readouterr()
    assert status == 1
    assert "ValueError: class weight -1 must be above 0" in printed.err + printed.out
    assert (out / "02_class_weights-class_weight_grid-[-1.0].failed.ipynb").exists()
    assert (out / "06_bias_and_threshold.ipynb").exists()


@pytest.mark.slow
def test_messy_data_root_trains_on_exactly_the_good_files_and_names_the_rest(messy_root, tmp_path: Path):
    root, good, bad = messy_root
    if os.geteuid() == 0:  # the kernel runs as root, which reads chmod-000 files: there it is a good image
        good = good | {"train/cats/locked.jpg"}
        bad = {k: v for k, v in bad.items() if k != "locked.jpg"}
    out = tmp_path / "run"
    status = run_series.main(["--notebooks", "01", "--data-root", str(root), "--out", str(out), "-p", "image_size=16",
                              "-p", "epochs=1", "-p", "batch_size=4", "-p", "split_seeds=[0]",
                              "-p", "negative_split_counts=[4, 2, 2]", "-p", "positive_split_counts=[2, 2, 2]",
                              "-p", "more_positives=4"])  # fmt: skip
    assert status == 0
    record = json.loads(next((out / "results").glob("baseline_*.json")).read_text())
    assert len(record["test_labels"]) == 4
    executed = (out / FIRST.name).read_text()
    for name in bad:
        assert name in executed  # every skipped file is named in the notebook's data check
    assert f"{len(bad)} file(s) skipped" in executed


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
def test_first_notebook_runs_on_real_photos_of_their_original_size(tmp_path: Path):
    status = run_series.main(["--notebooks", "01", "--data-root", str(REAL_SAMPLE), "--out", str(tmp_path), "-p", "image_size=32",
                              "-p", "epochs=1", "-p", "split_seeds=[0]", "-p", "negative_split_counts=[150, 100, 150]",
                              "-p", "positive_split_counts=[15, 10, 15]", "-p", "more_positives=150"])  # fmt: skip
    assert status == 0
    record = json.loads(next((tmp_path / "results").glob("baseline_*.json")).read_text())
    assert record["protocol"]["data_root"] == str(REAL_SAMPLE.resolve())
    assert len(record["test_scores"]) == 165 and all(0.0 <= s <= 1.0 for s in record["test_scores"])


def _text_outputs(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") + "".join(o.get("data", {}).get(k, "") for k in ("text/plain", "text/markdown"))
            for c in nb.cells if c.cell_type == "code" for o in c.outputs]  # fmt: skip


@pytest.mark.slow
def test_a_series_on_demo_images_is_stored_and_its_notebooks_re_execute_from_the_records_alone(tmp_path: Path, monkeypatch, capsys):
    """The remedy notebooks are re-executed by nbval on real photos; here the runner's plumbing, end to end: the
    baseline trained once and read back, manifests written, the summary reading them and training its data-size
    reference; then the run stored, its notebooks re-executed from the records alone, and a later run set beside it."""
    import unbalanced.runner.plan as plan_module
    import unbalanced.store as store

    series = tmp_path / "notebooks"
    series.mkdir()
    for name in ("01_balanced_vs_unbalanced.ipynb", "02_class_weights.ipynb", "06_bias_and_threshold.ipynb", "99_summary.ipynb"):
        shutil.copy(NOTEBOOK_DIR / name, series / name)
    monkeypatch.setattr(plan_module, "NOTEBOOK_DIR", series)
    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    monkeypatch.setattr(store, "STORED_RUNS", str(tmp_path / "stored"))
    run, sizes = tmp_path / "demo", ["-p", "data_sizes=[20, 40, 60]"]
    assert run_series.main(["--data-root", "demo", "--out", str(run), *SMALL, *sizes]) == 0

    manifests = sorted(p.stem for p in (run / "experiments").glob("*.json"))
    assert manifests == ["01_balanced_vs_unbalanced", "02_class_weights", "06_bias_and_threshold"]
    baseline = [name for name in _records(run) if name.startswith("baseline_split")]
    assert len(baseline) == 3  # trained once, read back by every later notebook
    record = json.loads((run / "results" / baseline[0]).read_text())
    assert record["protocol"]["steps_per_epoch"] == 3 and record["updates"] == 3 * record["best_epoch"]  # ceil(48 / 16)
    assert len([name for name in _records(run) if "_20to" in name or "_60to" in name]) == 2 * 2 * 3  # 40 is the default size
    summary = (run / "99_summary.ipynb").read_text()
    for name in ("class weights", "initial bias", "more positives", "balanced, same size", "holm-adjusted p"):
        assert name in summary.lower()
    assert "synthetic demo images" in (run / FIRST.name).read_text()
    assert all("stored_records" not in nbformat.read(p, as_version=4).metadata for p in run.glob("*.ipynb"))  # not the store's

    assert run_series.main(["--store", str(run)]) == 0  # in a kernel that trains nothing: the folder refuses to
    digest = store.index_digest(tmp_path / "records" / "demo")
    for path in sorted(series.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["stored_records"]["index_sha256"] == digest
        assert nb.metadata.papermill.parameters["output_dir"] == str(tmp_path / "stored" / "demo")
        assert _text_outputs(path) == _text_outputs(run / path.name), path.name  # every figure the run showed, from the records
    (run / "results").rename(tmp_path / "kept")  # re-storing after a text change needs only the stored records
    assert run_series.main(["--store", str(tmp_path / "stored" / "demo")]) == 0
    (tmp_path / "kept").rename(run / "results")
    for path in sorted(series.glob("*.ipynb")):
        assert nbformat.read(path, as_version=4).metadata["stored_records"]["index_sha256"] == digest
        assert _text_outputs(path) == _text_outputs(run / path.name), path.name
    capsys.readouterr()
    assert run_series.main(["--data-root", "demo", "--out", str(run), *SMALL, *sizes, "--resume"]) == 0
    assert "Beside the stored study: this run (3 paired runs, at most 2 epochs)" in capsys.readouterr().out
