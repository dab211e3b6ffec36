"""Tests for unbalanced/locks.py: one owner at a time, named to the next; an owner killed without releasing is taken
over, and says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from unbalanced.locks import LOCK_NAME, FolderInUse, acquire, owned

HOLD = "import sys, time; from pathlib import Path; from unbalanced.locks import acquire; lock = acquire(Path(sys.argv[1]), 'run folder'); " \
       "print('held', flush=True); time.sleep(600)"  # fmt: skip


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_owner_is_refused_with_the_first_ones_name(tmp_path: Path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(FolderInUse, match=rf"run folder {tmp_path} is in use by process {proc.pid} on host .*, started .*: "
                                              r"-c .* Wait for it to finish, or choose another folder"):  # fmt: skip
            acquire(tmp_path, "run folder")
    finally:
        proc.terminate()
        proc.wait()


def test_an_owner_killed_without_releasing_is_taken_over_and_named(tmp_path: Path):
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    said = []
    with owned(tmp_path, "run folder", say=said.append):
        assert (tmp_path / LOCK_NAME).read_text().startswith('{"pid": ' + str(os.getpid()))
    assert len(said) == 1 and f"taking it over from process {proc.pid}" in said[0] and "ended without releasing it" in said[0]
    said.clear()
    with owned(tmp_path, "run folder", say=said.append):  # released cleanly last time: nothing to take over
        pass
    assert said == [] and (tmp_path / LOCK_NAME).read_text() == ""


def test_a_waiting_owner_gets_the_folder_once_it_is_released(tmp_path: Path):
    proc = _holder(tmp_path)
    subprocess.Popen(["sh", "-c", f"sleep 1; kill {proc.pid}"])
    with owned(tmp_path, "image cache", wait_s=60, say=lambda _: None):
        assert proc.wait(timeout=60) is not None
