"""Tests for unbalanced/results.py: manifests name the records an experiment compared, and a run folder whose
experiments used different protocols is refused, naming what differs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import PROTOCOL, fake_record

from unbalanced.results import check_one_protocol, groups_by_role, load_group, load_manifests, save_manifest
from unbalanced.storage import DataError, write_json_atomic
from unbalanced.tasks import RESULTS_DIRNAME, Task, record_path
from unbalanced.training import baseline, class_weight


def _write(folder: Path, experiment: str, protocol=PROTOCOL, split_seeds=(0, 1)) -> None:
    labels = np.array([0, 0, 1])
    groups = {}
    for name, recipe, role in (("baseline", baseline(), "baseline"), ("class weights", class_weight(3), "remedy")):
        records = [fake_record(recipe, s, 1, (labels, labels * 0.5), (labels, labels * 0.5), protocol=protocol) for s in split_seeds]
        for r in records:
            write_json_atomic(record_path(folder / RESULTS_DIRNAME, Task(r.recipe, r.split_seed, r.seed), r.key), r.to_json())
        groups[name] = (role, records)
    save_manifest(folder, experiment, {"epochs": protocol.epochs, "output_dir": "x"}, protocol, split_seeds, [1], groups)


def test_a_manifest_names_its_records_and_they_read_back(tmp_path: Path):
    _write(tmp_path, "02_class_weights")
    manifests = load_manifests(tmp_path)
    assert list(manifests) == ["02_class_weights"] and manifests["02_class_weights"]["parameters"] == {"epochs": 2}
    records = load_group(tmp_path, manifests["02_class_weights"], "class weights")
    assert [r.split_seed for r in records] == [0, 1] and records[0].recipe == class_weight(3)
    assert list(groups_by_role(tmp_path, manifests, "baseline")) == ["baseline"]


def test_an_empty_run_folder_says_what_to_run(tmp_path: Path):
    with pytest.raises(DataError, match="no experiment results in .*run the experiment notebooks"):
        load_manifests(tmp_path)


@pytest.mark.parametrize(
    ("change", "words"),
    [({"negative_split_counts": (60, 50, 60)}, "negative split counts"),  # another validation set
     ({"data_root": "/other/pets"}, "data root"),  # the same file names under another data root
     ({"image_size": 32}, "image size"), ({"epochs": 5}, "epochs"), ({"steps_per_epoch": 9}, "updates per epoch")],
)  # fmt: skip
def test_experiments_under_different_protocols_are_refused(tmp_path: Path, change: dict, words: str):
    _write(tmp_path, "02_class_weights")
    _write(tmp_path, "03_oversampling", protocol=replace(PROTOCOL, **change))
    with pytest.raises(DataError, match=f"'02_class_weights' and '03_oversampling' were run under different protocols \\({words}\\)"):
        check_one_protocol(load_manifests(tmp_path))


def test_other_seeds_are_refused_too(tmp_path: Path):
    _write(tmp_path, "02_class_weights")
    _write(tmp_path, "03_oversampling", split_seeds=(0, 2))
    with pytest.raises(DataError, match=r"different protocols \(split seeds\)"):
        check_one_protocol(load_manifests(tmp_path))


def test_a_missing_or_damaged_record_is_named(tmp_path: Path):
    _write(tmp_path, "02_class_weights")
    manifest = load_manifests(tmp_path)["02_class_weights"]
    victim = tmp_path / RESULTS_DIRNAME / manifest["groups"]["class weights"]["records"][1]
    victim.write_text(json.dumps({"key": "truncated"}))
    with pytest.raises(DataError, match=f"{victim.name} is missing or damaged: run 02_class_weights again"):
        load_group(tmp_path, manifest, "class weights")
