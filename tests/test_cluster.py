"""Tests for unbalanced/cluster.py and the runner's --workers: the same study in a kernel and on a 2-worker
LocalCluster gives the same records; a worker killed mid-task costs a retry, not the study; a task's own error fails
at once; Ctrl-C stops the cluster's work and leaves nothing half-written. The clusters listen on loopback only."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import as_at_a_terminal, demo_study

import publish
import run_series
from unbalanced.storage import DataError
from unbalanced.training import Recipe, baseline, class_weight

SMALL = ["--data-root", "demo", "-p", "image_size=16", "-p", "epochs=3", "-p", "patience=1", "-p", "batch_size=16",
         "-p", "split_seeds=[0, 1, 2]", "-p", "negative_split_counts=[40, 30, 40]", "-p", "positive_split_counts=[8, 10, 10]",
         "-p", "more_positives=30"]  # fmt: skip


def _records(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "results").glob("*.json"))}


@pytest.mark.slow
def test_the_same_study_in_the_kernel_and_on_a_two_worker_cluster_writes_identical_records(tmp_path: Path, capsys):
    assert run_series.main(["--notebooks", "02", "--out", str(tmp_path / "kernel"), "-p", "threads=1", *SMALL]) == 0
    assert run_series.main(["--notebooks", "02", "--out", str(tmp_path / "cluster"), "--workers", "2", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "Dask: 2 worker(s) at tcp://127.0.0.1:" in printed and "dashboard http://127.0.0.1:" in printed
    kernel, cluster = _records(tmp_path / "kernel"), _records(tmp_path / "cluster")
    assert len(kernel) == 10 and kernel == cluster  # baseline and the frozen weight on three splits, two weights on two tuning splits
    executed = (tmp_path / "cluster" / "02_class_weights.ipynb").read_text()
    assert "kept epoch" not in executed and "Dask:" not in executed  # progress goes to the terminal, not a headless notebook
    publish.publish(tmp_path / "cluster", tmp_path / "blog", dt.date(2026, 11, 29))  # a post keeps none of the progress
    post = (tmp_path / "blog" / "_posts" / "2026-11-29-02-class-weights.md").read_text()
    assert not any(s in post for s in ("trainings ran in", "kept epoch", "Dask:", "tcp://"))


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as c:
        with Client(c) as client:
            yield client


@pytest.mark.slow
def test_a_worker_killed_during_a_task_costs_that_task_a_retry_not_the_study(tiny_demo_root: Path, tmp_path: Path, cluster):
    study = demo_study(tiny_demo_root, scheduler=cluster.scheduler.address, threads=1, epochs=6, output_dir=str(tmp_path / "a"))
    recipes = [baseline(), class_weight(3)]
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(records=study.train(recipes)))
    thread.start()
    deadline = time.monotonic() + 180
    while not any(cluster.processing().values()):
        assert time.monotonic() < deadline and thread.is_alive(), "no task started"
        time.sleep(0.05)
    busy = next(address for address, tasks in cluster.processing().items() if tasks)
    pid = cluster.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)  # mid-task
    thread.join(timeout=600)
    assert not thread.is_alive() and len(result["records"]) == 6
    undisturbed = demo_study(tiny_demo_root, scheduler=cluster.scheduler.address, threads=1, epochs=6, output_dir=str(tmp_path / "b"))
    undisturbed.train(recipes)
    assert _records(tmp_path / "a") == _records(tmp_path / "b")  # the retried task's record is the one it would have been


@pytest.mark.slow
def test_a_task_that_fails_for_its_own_reason_fails_at_once_with_its_error(tiny_demo_root: Path, tmp_path: Path, cluster):
    study = demo_study(tiny_demo_root, scheduler=cluster.scheduler.address, threads=1, output_dir=str(tmp_path))
    with pytest.raises(DataError, match="training set 'nonsense'"):
        study.train([Recipe("broken", train_set="nonsense")])
    assert not list(tmp_path.glob("results/*.json"))  # nothing recorded for it


@pytest.mark.slow
def test_ctrl_c_stops_a_cluster_run_leaves_nothing_half_written_and_no_worker_behind(tmp_path: Path):
    import psutil

    out, tag = tmp_path / "run", uuid.uuid4().hex
    # 60 epochs without early stopping: a training takes seconds, so the first ends soon and the next ones are
    # under way when the signal goes, and the ten of them cannot all finish before it
    args = [sys.executable, str(Path(run_series.__file__)), "--notebooks", "02", "--out", str(out), "--workers", "2", *SMALL,
            "-p", "epochs=60", "-p", "patience=0"]  # fmt: skip
    proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=as_at_a_terminal,
                            env={**os.environ, "UNBALANCED_TEST_TAG": tag})  # fmt: skip
    deadline = time.monotonic() + 300
    progress = out / ".progress.log"  # where the kernel reports each finished training, for the runner to relay
    while not progress.exists() or "kept epoch" not in progress.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    time.sleep(3)  # the workers are training now
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=180)[0]
    assert proc.returncode == 130, output[-3000:]
    assert not (out / "02_class_weights.ipynb").exists() and not list(out.glob(".*partial*")) and not progress.exists()
    for record in out.glob("results/*.json"):
        json.loads(record.read_text())  # any record written is whole
    time.sleep(5)
    left = [p.pid for p in psutil.process_iter() if _tagged(p, tag)]
    assert not left, f"processes of the run still alive: {left}"


def _tagged(process, tag: str) -> bool:
    try:
        return process.environ().get("UNBALANCED_TEST_TAG") == tag
    except Exception:  # noqa: BLE001 - gone, or not ours to read
        return False
