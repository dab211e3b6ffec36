"""Tests for unbalanced/study.py: parameters checked by name, the run folder, sweeps that reuse the baseline's
records, and reading a run folder back for the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import demo_study

import unbalanced.study as study_module
from unbalanced.storage import PROJECT_ROOT, DataError
from unbalanced.study import output_dir_of, read_run, sweep
from unbalanced.training import baseline, class_weight, sized


@pytest.mark.parametrize(
    ("change", "message"),
    [({"epochs": 0}, "epochs=0 must be a whole number above 0"), ({"patience": -1}, "patience=-1 must be a whole number, 0 or more"),
     ({"split_seeds": []}, r"split_seeds=\[\] must list at least one whole number"), ({"seeds": [1, 1]}, r"seeds=\[1, 1\] lists a seed twice"),
     ({"target_recall": 1.5}, "target_recall=1.5 must be above 0 and at most 1"),
     ({"negative_split_counts": [14, 8]}, "negative_split_counts=\\[14, 8\\] must be three whole numbers"),
     ({"positive_class": "birds"}, "positive_class='birds' is not a class folder")],
)  # fmt: skip
def test_bad_parameters_are_named_with_what_they_need(tiny_demo_root: Path, change: dict, message: str):
    with pytest.raises(DataError, match=message):
        demo_study(tiny_demo_root, **change)


def test_the_run_folder_is_the_parameter_else_the_environment_else_runs_notebooks(monkeypatch, tmp_path: Path):
    monkeypatch.delenv(study_module.OUTPUT_DIR_ENV, raising=False)
    assert output_dir_of("") == PROJECT_ROOT / "runs" / "notebooks"
    monkeypatch.setenv(study_module.OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert output_dir_of("") == tmp_path / "env" and output_dir_of(str(tmp_path / "given")) == tmp_path / "given"


@pytest.mark.slow
def test_a_study_trains_compares_saves_and_reads_back(tiny_demo_root: Path):
    study = demo_study(tiny_demo_root)
    assert "3 paired runs (3 splits × 1 seed)" in study.describe() and "synthetic" not in study.describe()
    records = study.train([baseline(), class_weight(3), class_weight(10)])
    base = [r for r in records if r.recipe == baseline()]
    search = [r for r in records if r.recipe.remedy == "class weights"]
    study.save("02_class_weights", {"baseline": ("baseline", base), "class weights": ("remedy", search)})
    run = read_run(study.output_dir)
    assert [r.key for r in run.baseline] == [r.key for r in base] and list(run.chosen) == ["class weights"]
    assert len(run.chosen["class weights"]) == 3 and run.protocol == study.protocol
    assert list(read_run(study.output_dir, ["02"]).chosen) == ["class weights"]  # only the named experiments
    with pytest.raises(DataError, match="holds no experiment named 05"):
        read_run(study.output_dir, ["05"])
    result = sweep(study, {("baseline", 14): sized(baseline(), 14, 4), ("baseline", 7): sized(baseline(), 7, 2),
                           ("w = 3", 14): sized(class_weight(3), 14, 4), ("w = 3", 7): sized(class_weight(3), 7, 2)})  # fmt: skip
    assert [r.key for r in result.records[("baseline", 14)]] == [r.key for r in base]  # the unbalanced set's records, reused
    assert len(result.ap["baseline"]) == 2 and len(result.gains["w = 3"]) == 2
    assert all(c.verdict != "pending" and not np.isnan(c.p_holm) for c in result.gains["w = 3"])  # corrected at each size
    sentence = result.sentences(lambda n: f"With {n}")[0]
    assert sentence.startswith("With 14: w = 3: ") and f"Holm-adjusted p = {result.gains['w = 3'][0].p_holm:.3f}" in sentence
