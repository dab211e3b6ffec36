"""Tests for unbalanced/tasks.py: task keys, records written whole, and resuming from the run folder."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import PROTOCOL, fake_record

from unbalanced.tasks import Record, Task, read_record, record_path, run_tasks
from unbalanced.training import baseline, class_weight, focal_loss


def test_a_task_key_changes_with_everything_that_changes_its_result():
    task = Task(class_weight(10), 0, 42)
    key = task.key(PROTOCOL)
    assert key == Task(class_weight(10), 0, 42).key(PROTOCOL)  # stable
    others = [Task(class_weight(3), 0, 42).key(PROTOCOL), Task(class_weight(10), 1, 42).key(PROTOCOL),
              Task(class_weight(10), 0, 43).key(PROTOCOL)]  # fmt: skip
    for field, value in [("image_size", 32), ("epochs", 3), ("steps_per_epoch", 9), ("data_root", "/elsewhere"),
                         ("data_fingerprint", "other"), ("negative_split_counts", (61, 40, 60)), ("onednn", False),
                         ("threads", 1), ("tensorflow", "2.22.0")]:  # fmt: skip
        others.append(task.key(replace(PROTOCOL, **{field: value})))
    assert key not in others and len(set(others)) == len(others)


def test_records_round_trip_through_json_at_full_precision(tmp_path: Path):
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.30000000000000004, 0.7, 1 / 3])
    record = fake_record(focal_loss(0.25, 2), 1, 42, (labels, scores), (labels, scores))
    back = Record.from_json(json.loads(json.dumps(record.to_json(), default=lambda a: a.tolist())))
    assert back.recipe == record.recipe and back.protocol == record.protocol and back.key == record.key
    np.testing.assert_array_equal(back.trained.test_scores, scores)  # not rounded


def _execute_in_reverse(calls: list[list[str]]):
    def execute(todo):
        calls.append([t.describe() for t in todo])
        for task in reversed(todo):  # a cluster returns tasks as they finish, in any order
            labels = np.array([0, 1, 0, 1])
            yield task, fake_record(task.recipe, task.split_seed, task.seed, (labels, labels * 0.5), (labels, labels * 0.5))
    return execute


def test_tasks_with_a_whole_record_are_read_back_and_only_the_others_run(tmp_path: Path):
    tasks = [Task(r, s, 1) for s in (0, 1) for r in (baseline(), class_weight(3))]
    calls, lines = [], []
    first = run_tasks(tasks[:2], PROTOCOL, None, tmp_path, _execute_in_reverse(calls), lines.append)
    assert calls == [["baseline, split 0, seed 1", "class weights (w = 3), split 0, seed 1"]]
    (tmp_path / record_path(tmp_path, tasks[1], tasks[1].key(PROTOCOL)).name).write_text('{"key": ')  # damaged
    calls.clear()
    lines.clear()
    records = run_tasks(tasks, PROTOCOL, None, tmp_path, _execute_in_reverse(calls), lines.append)
    assert calls == [["class weights (w = 3), split 0, seed 1", "baseline, split 1, seed 1", "class weights (w = 3), split 1, seed 1"]]
    assert [r.key for r in records] == [t.key(PROTOCOL) for t in tasks] and records[0].key == first[0].key
    assert [line.split("]")[0] for line in lines[:4]] == ["[1/4", "[2/4", "[3/4", "[4/4"]  # task order, whatever the finish order
    assert lines[-1].startswith("3 of 4 trainings ran in")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(record_path(tmp_path, t, t.key(PROTOCOL)).name for t in tasks)


def test_a_record_is_only_read_back_under_its_own_key(tmp_path: Path):
    task = Task(baseline(), 0, 1)
    labels = np.array([0, 1])
    record = fake_record(task.recipe, 0, 1, (labels, labels * 1.0), (labels, labels * 1.0))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record.to_json(), default=lambda a: a.tolist()))
    assert read_record(path, record.key) is not None and read_record(path, record.key[:10]) is not None
    assert read_record(path, Task(baseline(), 0, 2).key(PROTOCOL)) is None


def test_the_data_root_a_record_names_is_relative_inside_the_project_and_absolute_outside(tmp_path: Path):
    from unbalanced.storage import PROJECT_ROOT
    from unbalanced.tasks import portable_root

    assert portable_root(PROJECT_ROOT / "data" / "cats-vs-dogs-64px") == "data/cats-vs-dogs-64px"  # a clone elsewhere keys alike
    assert portable_root(tmp_path) == str(tmp_path.resolve())
    link = PROJECT_ROOT / "runs" / f"link-{tmp_path.name}"
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(tmp_path)
    try:
        assert portable_root(link) == f"runs/{link.name}"  # a data root linked in from elsewhere still keys alike
    finally:
        link.unlink()


def test_a_record_names_the_code_and_the_processor_that_trained_it():
    from unbalanced.tasks import processor_kind, provenance

    assert processor_kind("flags\t: fpu sse avx2 avx512f amx_tile\n") == "AVX-512 + AMX"
    assert processor_kind("flags\t: fpu sse avx2 avx512f\n") == "AVX-512"
    assert processor_kind("flags\t: fpu sse avx2\n") == "AVX2"
    assert processor_kind("flags\t: fpu avx512_bf16\n") not in ("AVX-512", "AVX2")  # a flag's prefix is not the flag
    made = provenance()
    assert set(made) == {"commit", "processor", "processor_kind", "platform"} and made["commit"]
    record = fake_record(baseline(), 0, 42, (np.array([0, 1]), np.array([0.2, 0.8])), (np.array([0, 1]), np.array([0.3, 0.6])))
    record.trained_on = made
    assert Record.from_json(json.loads(json.dumps(record.to_json(), default=lambda a: a.tolist()))).trained_on == made


@pytest.mark.parametrize(("answers", "commit"), [({"log": "abc123\n", "status": ""}, "abc123"),
                                                 ({"log": "abc123\n", "status": " M unbalanced/x.py\n"}, "abc123+changes"),
                                                 ({"log": OSError("no git"), "status": ""}, "unknown"),
                                                 ({"log": subprocess.CalledProcessError(128, "git"), "status": ""}, "unknown")])  # fmt: skip
def test_the_commit_a_record_names_is_the_training_codes(monkeypatch, answers: dict, commit: str):
    import unbalanced.tasks as tasks

    asked = []

    def run(args, **kwargs):
        asked.append(args)
        answer = answers[args[1]]
        if isinstance(answer, Exception):
            raise answer
        return subprocess.CompletedProcess(args, 0, stdout=answer)

    monkeypatch.setattr(tasks.subprocess, "run", run)
    tasks.provenance.cache_clear()
    try:
        assert tasks.provenance()["commit"] == commit
    finally:
        tasks.provenance.cache_clear()
    assert all(a[-len(tasks.TRAINING_CODE):] == list(tasks.TRAINING_CODE) for a in asked)  # records and prose do not count
