"""Tests for the runner (run_series.py, unbalanced/runner/): parameters, the plan, execution, failures and Ctrl-C.

Execution is tested on small generated notebooks whose timing the tests control; the study's own notebooks are run
end to end in tests/test_series.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any
from pathlib import Path

import nbformat
import pytest
from conftest import as_at_a_terminal
from nbformat.v4 import new_code_cell, new_notebook

import run_series
from unbalanced.locks import LOCK_NAME
from unbalanced.runner.params import ConfigError, load_config, notebook_parameters, parse_assignment, type_error
from unbalanced.runner.plan import NOTEBOOK_DIR, plan_runs, select_notebooks

FIRST = NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb"


def test_parse_assignment_reads_yaml_values():
    assert parse_assignment("epochs=10") == ("epochs", 10)
    assert parse_assignment("positive_split_counts=[1, 2]") == ("positive_split_counts", [1, 2])
    assert parse_assignment("positive_class=cats") == ("positive_class", "cats")
    assert parse_assignment("data_root=") == ("data_root", "")
    with pytest.raises(ConfigError, match="name=value"):
        parse_assignment("epochs")


def test_load_config_needs_an_existing_mapping(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("epochs: 3\npositive_class: cats\n")
    assert load_config(str(cfg)) == {"epochs": 3, "positive_class": "cats"}
    cfg.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(cfg))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yaml"))


def test_notebooks_declare_the_documented_parameters():
    declared = notebook_parameters(FIRST)
    for name in ("data_root", "positive_class", "classes", "image_size", "batch_size", "epochs", "patience", "steps_per_epoch",
                 "negative_split_counts", "positive_split_counts", "more_positives", "split_seeds", "seeds", "target_recall",
                 "output_dir"):  # fmt: skip
        assert name in declared
    assert declared["positive_class"] == '"dogs"' and declared["data_root"] == '""'
    assert "class_weight_grid" in notebook_parameters(NOTEBOOK_DIR / "02_class_weights.ipynb")


def test_unknown_parameter_is_an_error_listing_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_series.main(["--out", str(tmp_path), "-p", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) epoch" in err and "epochs" in err


def test_a_series_config_serves_a_run_of_some_notebooks_and_each_gets_only_what_it_declares(tmp_path: Path):
    args = run_series.build_parser().parse_args(["--out", str(tmp_path), "--notebooks", "02", "-p", "ratios=[1, 2]",
                                                 "-p", "class_weight_grid=[3.0]", "-p", "data_root=demo",
                                                 "-p", "negative_split_counts=[14, 8, 8]", "-p", "positive_split_counts=[4, 4, 4]",
                                                 "-p", "more_positives=14", "-p", "data_sizes=[100000]"])  # fmt: skip
    plan, _ = run_series.prepare(args)  # 02 makes no data-size sweep, so a size the data cannot hold is not its concern
    assert [step.name for step in plan] == ["02_class_weights.ipynb"]
    assert plan[0].parameters["class_weight_grid"] == [3.0] and "ratios" not in plan[0].parameters
    args.notebooks = ["02", "99"]
    with pytest.raises(ConfigError, match="data_sizes: "):
        run_series.prepare(args)
    args = run_series.build_parser().parse_args(["--out", str(tmp_path), "--notebooks", "02", "-p", "ratio=[1, 2]"])
    with pytest.raises(ConfigError, match="unknown parameter.s. ratio;"):
        run_series.prepare(args)


def test_a_config_can_run_a_notebook_once_per_parameter_set():
    nb = NOTEBOOK_DIR / "02_class_weights.ipynb"
    plan = plan_runs([nb], {"epochs": 2, "output_dir": "/tmp/x"}, {"02_class_weights": [{"class_weight_grid": [3.0]}, {"class_weight_grid": [30.0]}]})
    assert [step.name for step in plan] == ["02_class_weights-class_weight_grid-[3.0].ipynb", "02_class_weights-class_weight_grid-[30.0].ipynb"]
    assert [step.parameters for step in plan] == [{"epochs": 2, "output_dir": "/tmp/x", "class_weight_grid": [3.0]},
                                                  {"epochs": 2, "output_dir": "/tmp/x", "class_weight_grid": [30.0]}]  # fmt: skip
    assert [step.name for step in plan_runs([nb], {}, {})] == ["02_class_weights.ipynb"]


def test_variants_in_a_config_are_checked(tmp_path: Path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("variants:\n  02_class_weights:\n    - {class_weight_gird: [3.0]}\n")
    assert run_series.main(["--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "unknown parameter(s) class_weight_gird" in capsys.readouterr().err
    cfg.write_text("variants:\n  05_nothing: [{}]\n")
    assert run_series.main(["--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "05_nothing" in capsys.readouterr().err


def test_select_notebooks_in_name_order_and_unknown_pattern():
    assert select_notebooks(None)[0] == FIRST
    with pytest.raises(ConfigError, match="no notebooks"):
        select_notebooks(["99_nothing"])


def test_impossible_data_settings_fail_before_any_notebook_runs(tmp_path: Path, capsys):
    assert run_series.main(["--out", str(tmp_path), "-p", "positive_class=birds"]) == 2
    assert "positive_class='birds'" in capsys.readouterr().err
    assert run_series.main(["--out", str(tmp_path), "-p", "positive_split_counts=[100, 1000, 1000]"]) == 2
    assert "class 'dogs': validation 1000, test 1000 and a training pool of 1000 need 3000 files, but only 2000" in capsys.readouterr().err
    assert run_series.main(["--out", str(tmp_path), "-p", "more_positives=10"]) == 2
    assert "more_positives=10 must be at least the training positives (100)" in capsys.readouterr().err
    # the sweeps' largest sets too: the bundle's 6,000 cats leave a pool of 2,000 after validation and test
    assert run_series.main(["--out", str(tmp_path), "-p", "data_sizes=[1000, 2500]"]) == 2
    assert "data_sizes: a training set of 2500 negative images was asked for, but the pool holds 2000" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.ipynb"))


def test_wrong_parameter_types_are_errors_listing_the_valid_parameters(tmp_path: Path, capsys):
    assert run_series.main(["--out", str(tmp_path), "-p", "epochs=ten"]) == 2
    err = capsys.readouterr().err
    assert "epochs='ten' is a str, expected int or float" in err and "Valid parameters and defaults:" in err
    assert "seeds=[42]" in err
    assert run_series.main(["--out", str(tmp_path), "-p", "seeds=[1, two]"]) == 2
    assert "seeds=[1, 'two'] holds ['two']" in capsys.readouterr().err
    assert run_series.main(["--out", str(tmp_path), "-p", "image_size=[32]"]) == 2


def test_parameters_with_several_types_accept_each():
    info = {"default": '"balanced"', "help": "| float", "inferred_type_name": "str"}  # `# type: str | float`
    assert type_error("weight", 10, info) is None and type_error("weight", "balanced", info) is None
    assert "expected str or int or float" in type_error("weight", [1], info)
    epochs = {"default": "15", "help": "", "inferred_type_name": "None"}
    assert type_error("epochs", 2.0, epochs) is None and type_error("epochs", True, epochs)
    grid = {"default": "[[0.25, 2.0], [0.75, 2.0]]", "help": "", "inferred_type_name": "None"}  # a list of pairs
    assert type_error("focal_settings", [[0.5, 1.0]], grid) is None


# --------------------------------------------------------------------------- execution, on generated notebooks


def _notebook(path: Path, *cells: str) -> Path:
    """Write a notebook whose parameters cell declares output_dir, marker and wait_s, followed by `cells`."""
    params = new_code_cell('output_dir = ""\nmarker = ""\nwait_s = 0.0')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, *map(new_code_cell, cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


MARK = "from pathlib import Path\nif marker:\n    Path(marker).write_text('running')"
WAIT = "import time\nstart = time.monotonic()\nwhile time.monotonic() - start < wait_s:\n    time.sleep(0.05)"
RESULT = "Path(output_dir, 'result.txt').write_text(f'waited {wait_s}')"


@pytest.fixture
def notebooks(tmp_path: Path) -> tuple[Path, Path]:
    """Two notebooks: the first marks that it runs, waits `wait_s` seconds, then writes a result; the second writes one."""
    first = _notebook(tmp_path / "first.ipynb", MARK, WAIT, RESULT)
    second = _notebook(tmp_path / "second.ipynb", "from pathlib import Path\nPath(output_dir, 'second.txt').write_text(f'ran {marker}')")
    return first, second


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but its owner lock (whose content names the run holding it, if any)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


def _start(notebooks: tuple[Path, Path], out: Path, marker: Path, wait_s: float, preexec: Any = as_at_a_terminal) -> subprocess.Popen:
    args = [sys.executable, str(Path(run_series.__file__)), "--notebooks", *map(str, notebooks), "--out", str(out),
            "-p", f"marker={marker}", "-p", f"wait_s={wait_s}"]  # fmt: skip
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=preexec)  # fmt: skip


def _as_in_the_background() -> None:
    """Popen's preexec_fn for a run started as `nohup ... &` from a script starts: with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the run ended or stalled before {what}: {proc.communicate()[0][-2000:]}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_notebook_is_written_whole_only_when_it_completes(notebooks, tmp_path: Path):
    out = tmp_path / "run"
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out), "-p", "wait_s=0.1"]) == 0
    assert (out / "result.txt").read_text() == "waited 0.1" and (out / "second.txt").read_text() == "ran "
    executed = nbformat.read(out / "first.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters == {"output_dir": str(out), "wait_s": 0.1}
    assert [p.name for p in out.glob(".*")] == [LOCK_NAME] and (out / LOCK_NAME).read_text() == ""  # no partial copy, no owner left


@pytest.mark.slow
@pytest.mark.parametrize("when", ["start-up", "kernel start", "in a cell"])
def test_ctrl_c_stops_the_run_with_130_wherever_it_lands_and_changes_nothing(notebooks, tmp_path: Path, when: str):
    out, marker = tmp_path / "run", tmp_path / "marker"
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out)]) == 0
    before = _snapshot(out)
    proc = _start(notebooks, out, marker, wait_s=600)  # cannot finish before the signal
    if when == "start-up":
        time.sleep(0.3)  # the runner is still importing and checking parameters
    elif when == "kernel start":
        line = proc.stdout.readline()  # "[1/2] first.ipynb -> ...": printed just before the kernel starts
        assert line.startswith("[1/2]"), line
    else:
        _wait_for(marker.exists, proc, "the first notebook's cells ran")
    assert proc.poll() is None  # still running when the signal goes
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-2000:]
    assert _snapshot(out) == before  # nothing half-written, nothing earlier changed, the second notebook never ran
    assert not list(out.glob(".*partial*"))


@pytest.mark.slow
@pytest.mark.parametrize(("sent", "preexec"), [(signal.SIGTERM, as_at_a_terminal), (signal.SIGINT, _as_in_the_background)],
                         ids=["SIGTERM", "SIGINT started in the background"])  # fmt: skip
def test_sigterm_or_a_background_sigint_stops_the_run_as_ctrl_c_does(notebooks, tmp_path: Path, sent: int, preexec: Any):
    out, marker = tmp_path / "run", tmp_path / "marker"
    proc = _start(notebooks, out, marker, wait_s=600, preexec=preexec)
    _wait_for(marker.exists, proc, "the first notebook's cells ran")
    os.killpg(proc.pid, sent)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-2000:]
    assert not (out / "first.ipynb").exists() and not list(out.glob(".*partial*"))


@pytest.mark.slow
def test_a_killed_run_leaves_every_visible_file_and_resume_finishes_it(notebooks, tmp_path: Path):
    out, marker = tmp_path / "run", tmp_path / "marker"
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out)]) == 0
    before = _snapshot(out)
    proc = _start(notebooks, out, marker, wait_s=600)
    _wait_for(marker.exists, proc, "the first notebook's cells ran")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert {k: v for k, v in _snapshot(out).items() if not Path(k).name.startswith(".")} == before
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out), "--resume"]) == 0
    assert _snapshot(out) == before  # stale partial copy removed, both complete notebooks skipped


@pytest.mark.slow
def test_a_failing_notebook_is_kept_as_failed_and_the_next_still_runs(notebooks, tmp_path: Path, capsys):
    broken = _notebook(tmp_path / "broken.ipynb", "raise ValueError('wait_s must be small')")
    out = tmp_path / "run"
    status = run_series.main(["--notebooks", str(broken), str(notebooks[1]), "--out", str(out)])
    printed = capsys.readouterr()
    assert status == 1
    assert "broken.ipynb FAILED: cell In [3] raised ValueError: wait_s must be small" in printed.err
    assert (out / "broken.failed.ipynb").exists() and not (out / "broken.ipynb").exists()
    assert (out / "second.txt").read_text() == "ran "
    assert run_series.main(["--notebooks", str(broken), str(notebooks[1]), "--out", str(out), "--fail-fast"]) == 1
    assert "second.ipynb" not in capsys.readouterr().out


@pytest.mark.slow
def test_resume_skips_complete_notebooks_with_the_same_parameters(notebooks, tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out), "-p", "wait_s=0.1"]) == 0
    first = (out / "first.ipynb").read_bytes()
    capsys.readouterr()
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out), "-p", "wait_s=0.1", "--resume"]) == 0
    assert capsys.readouterr().out.count("skipped") >= 2 and (out / "first.ipynb").read_bytes() == first
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out), "-p", "wait_s=0.2", "--resume"]) == 0
    assert (out / "first.ipynb").read_bytes() != first  # other parameters: executed again


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder_one_proceeds_the_other_names_it(notebooks, tmp_path: Path):
    out = tmp_path / "run"
    runs = [_start(notebooks, out, tmp_path / f"marker-{i}", wait_s=3) for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in runs]
    codes = sorted(p.returncode for p in runs)
    assert codes == [0, run_series.FOLDER_IN_USE], outputs
    loser = outputs[[p.returncode for p in runs].index(run_series.FOLDER_IN_USE)]
    winner = runs[[p.returncode for p in runs].index(0)]
    assert f"run folder {out} is in use by process {winner.pid}" in loser and "Wait for it to finish" in loser
    assert "--out names another run folder" in loser
    marker = (out / "second.txt").read_text().removeprefix("ran ")
    assert marker == str(tmp_path / f"marker-{runs.index(winner)}")  # the winner's output, whole
    assert (out / "result.txt").read_text() == "waited 3" and not list(out.glob(".*partial*"))


@pytest.mark.slow
def test_a_run_killed_outright_leaves_its_folder_to_the_next_run_which_says_so(notebooks, tmp_path: Path, capsys):
    out, marker = tmp_path / "run", tmp_path / "marker"
    proc = _start(notebooks, out, marker, wait_s=600)
    _wait_for(marker.exists, proc, "the first notebook's cells ran")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert run_series.main(["--notebooks", *map(str, notebooks), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"run folder {out}: taking it over from process {proc.pid}" in printed and "ended without releasing it" in printed


def _executed_copy(path: Path, parameters: dict, finished: bool = True) -> None:
    nb = nbformat.read(FIRST, as_version=4)
    nb.metadata["papermill"] = {"parameters": parameters, "exception": None, "end_time": "2026-12-03T00:00:00" if finished else None}
    nbformat.write(nb, path)


def test_store_plans_each_notebook_with_its_runs_parameters_in_the_stored_folder_and_refuses_an_unfinished_run(tmp_path: Path, monkeypatch):
    import unbalanced.store as store
    from test_store import _run_folder

    import unbalanced.runner.plan as plan_module

    run = tmp_path / "study"
    _run_folder(run, splits=1)
    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    monkeypatch.setattr(store, "STORED_RUNS", str(tmp_path / "stored"))
    series = tmp_path / "notebooks"
    series.mkdir()
    for name in (FIRST.name, "02_class_weights.ipynb"):
        _executed_copy(series / name, {})
    monkeypatch.setattr(plan_module, "NOTEBOOK_DIR", series)
    given = {"epochs": 20, "output_dir": str(run), "workers": 2, "scheduler": "tcp://x:1", "threads": 1}
    _executed_copy(run / FIRST.name, given)
    _executed_copy(run / "02_class_weights.ipynb", given, finished=False)
    with pytest.raises(ConfigError, match="02_class_weights.ipynb is not a completed execution: finish the run"):
        run_series.store_plan(run, [series / FIRST.name])  # the whole series must be finished, whichever notebooks re-run
    assert not (tmp_path / "records").exists()  # nothing packed from an unfinished run
    _executed_copy(run / "02_class_weights.ipynb", given)
    [step] = run_series.store_plan(run, [series / FIRST.name])
    assert step.notebook == series / FIRST.name and step.parameters == {"epochs": 20, "output_dir": str(tmp_path / "stored" / "study"), "workers": 0,
                                                          "scheduler": "", "threads": 1}  # fmt: skip
    assert store.unpacked_from(tmp_path / "stored" / "study")["index_sha256"] == store.index_digest(tmp_path / "records" / "study")
    assert run_series.main(["--store", str(run), "-p", "epochs=3"]) == 2  # the run's parameters, no others


def test_store_of_the_stored_folder_re_executes_the_stored_notebooks_as_stored_and_refuses_others(tmp_path: Path, monkeypatch):
    import unbalanced.store as store
    from test_store import _run_folder

    import unbalanced.runner.plan as plan_module

    run = tmp_path / "study"
    _run_folder(run, splits=1)
    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    monkeypatch.setattr(store, "STORED_RUNS", str(tmp_path / "stored"))
    store.pack(run, tmp_path / "records" / "study")
    series = tmp_path / "notebooks"
    series.mkdir()
    monkeypatch.setattr(plan_module, "NOTEBOOK_DIR", series)
    stored = {"epochs": 20, "output_dir": str(tmp_path / "stored" / "study"), "workers": 0, "scheduler": "", "threads": 1}
    _executed_copy(series / FIRST.name, stored)
    with pytest.raises(ConfigError, match=f"{FIRST.name} was not stored from .*records/study: store it from a finished run"):
        run_series.store_plan(tmp_path / "stored" / "study", [series / FIRST.name])  # no stored_records in its metadata
    nb = nbformat.read(series / FIRST.name, as_version=4)
    nb.metadata["stored_records"] = {"store": str(tmp_path / "records" / "study"), "index_sha256": "-"}
    nbformat.write(nb, series / FIRST.name)
    [step] = run_series.store_plan(tmp_path / "stored" / "study", [series / FIRST.name])
    assert step.notebook == series / FIRST.name and step.parameters == stored  # its own parameters, nothing packed
    assert store.unpacked_from(tmp_path / "stored" / "study")["index_sha256"] == store.index_digest(tmp_path / "records" / "study")
    nb.metadata["stored_records"]["store"] = str(tmp_path / "records" / "other")
    nbformat.write(nb, series / FIRST.name)
    with pytest.raises(ConfigError, match="was not stored from"):
        run_series.store_plan(tmp_path / "stored" / "study", [series / FIRST.name])


def test_pack_stores_a_study_still_training(tmp_path: Path, monkeypatch, capsys):
    import unbalanced.store as store
    from test_store import _run_folder

    _run_folder(tmp_path / "study", splits=2)
    monkeypatch.setattr(store, "STORE_ROOT", tmp_path / "records")
    assert run_series.main(["--pack", str(tmp_path / "study")]) == 0
    assert "packed 4 records" in capsys.readouterr().out and store.read_index(tmp_path / "records" / "study")["complete"] is False
    assert run_series.main(["--pack", str(tmp_path / "nothing")]) == 2
    assert "error:" in capsys.readouterr().err


def test_an_executed_copy_does_not_name_the_stored_records_of_its_source(tmp_path: Path):
    from unbalanced.runner.execute import forget_stored_records

    source = new_notebook(cells=[new_code_cell("1")])
    source.metadata["stored_records"] = {"store": "records/study", "index_sha256": "abc"}
    source.metadata["kernelspec"] = {"name": "python3"}
    nbformat.write(source, tmp_path / "executed.ipynb")
    forget_stored_records(tmp_path / "executed.ipynb")
    copy = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert "stored_records" not in copy.metadata and copy.metadata["kernelspec"] == {"name": "python3"}
