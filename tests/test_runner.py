"""Tests for run_series.py: parameters, failures, reproducibility, and a run on real photos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import run_series as rs
from conftest import REAL_SAMPLE

FIRST = rs.NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb"
SMALL = [
    "-p", "image_size=32", "-p", "epochs=1", "-p", "batch_size=16", "-p", "seeds=[1]",
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
    for name in ("data_root", "image_size", "batch_size", "epochs", "patience", "seeds", "split_seed", "positive_class",
                 "negative_split_counts", "positive_split_counts", "output_dir"):  # fmt: skip
        assert name in declared
    assert declared["positive_class"] == "'dogs'" or declared["positive_class"] == '"dogs"'


def test_unknown_parameter_is_an_error_listing_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert rs.main(["--out", str(tmp_path), "-p", "epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) epoch" in err and "epochs" in err


def test_class_weight_notebook_runs_once_per_declared_weight():
    nb = rs.NOTEBOOK_DIR / "02_class_weights.ipynb"
    plan = rs.plan_runs([nb], {"epochs": 2, "output_dir": "/tmp/x"}, {})
    assert [name for _, name, _ in plan] == [
        "02_class_weights-positive_weight-10.ipynb",
        "02_class_weights-positive_weight-25.ipynb",
        "02_class_weights-positive_weight-balanced.ipynb",
    ]
    assert [p["positive_weight"] for _, _, p in plan] == [10, 25, "balanced"]
    assert all(p["epochs"] == 2 for _, _, p in plan)
    custom = rs.plan_runs([nb], {}, {"02_class_weights": [{"positive_weight": 3}]})
    assert [(name, p) for _, name, p in custom] == [("02_class_weights-positive_weight-3.ipynb", {"positive_weight": 3})]


def test_variants_in_a_config_are_checked(tmp_path: Path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("variants:\n  02_class_weights:\n    - {positive_wieght: 3}\n")
    assert rs.main(["--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "unknown parameter(s) positive_wieght" in capsys.readouterr().err
    cfg.write_text("variants:\n  05_nothing: [{}]\n")
    assert rs.main(["--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "05_nothing" in capsys.readouterr().err


def test_select_notebooks_in_name_order_and_unknown_pattern():
    assert rs.select_notebooks(None)[0] == FIRST
    with pytest.raises(rs.ConfigError, match="no notebooks"):
        rs.select_notebooks(["99_nothing"])


def test_impossible_data_settings_fail_before_any_notebook_runs(tmp_path: Path, capsys):
    assert rs.main(["--out", str(tmp_path), "-p", "positive_class=birds"]) == 2
    assert "positive_class='birds'" in capsys.readouterr().err
    assert rs.main(["--out", str(tmp_path), "-p", "positive_split_counts=[5000, 1, 1, 1]"]) == 2
    assert "'dogs': the splits ask for 5003 files" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.ipynb"))


def test_wrong_parameter_types_are_errors_listing_the_valid_parameters(tmp_path: Path, capsys):
    assert rs.main(["--out", str(tmp_path), "-p", "epochs=ten"]) == 2
    err = capsys.readouterr().err
    assert "epochs='ten' is a str, expected int or float" in err and "Valid parameters and defaults:" in err
    assert "seeds=[42, 43, 44]" in err
    assert rs.main(["--out", str(tmp_path), "-p", "seeds=[1, two]"]) == 2
    assert "seeds=[1, 'two'] holds ['two']" in capsys.readouterr().err
    assert rs.main(["--out", str(tmp_path), "-p", "image_size=[32]"]) == 2


def test_parameters_with_several_types_accept_each():
    info = rs.inspect(rs.NOTEBOOK_DIR / "02_class_weights.ipynb")["positive_weight"]  # `# type: float | str`
    assert rs.type_error("positive_weight", 10, info) is None
    assert rs.type_error("positive_weight", "balanced", info) is None
    assert "expected int or float or str" in rs.type_error("positive_weight", [1], info)
    epochs = {"default": "15", "help": "", "inferred_type_name": "None"}
    assert rs.type_error("epochs", 2.0, epochs) is None and rs.type_error("epochs", True, epochs)


@pytest.mark.slow
def test_a_failing_notebook_does_not_stop_the_others(tmp_path: Path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("variants:\n  02_class_weights: [{positive_weight: -1}]\n")
    out = tmp_path / "run"
    status = rs.main(["--notebooks", "02", "04", "--out", str(out), "--config", str(cfg), *SMALL])
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
def test_two_runs_with_one_seed_write_identical_results_in_fresh_or_shared_kernels(tmp_path: Path):
    assert rs.main(["--notebooks", "01", "04", "--out", str(tmp_path / "a"), *SMALL]) == 0
    assert rs.main(["--notebooks", "01", "04", "--out", str(tmp_path / "b"), "--shared-kernel", *SMALL]) == 0
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


def execute_in(km, code: str, output_hook=None) -> dict:
    """Run code in the kernel of `km` through a new client, as papermill does, and return the reply's content."""
    from jupyter_core.utils import run_sync

    async def execute() -> dict:
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=20)
            return (await kc.execute_interactive(code, store_history=False, timeout=20, output_hook=output_hook))["content"]
        finally:
            kc.stop_channels()

    return run_sync(execute)()


@pytest.mark.slow
def test_a_notebook_is_written_once_at_the_end_with_every_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import nbformat
    import papermill.engines
    from nbformat.v4 import new_code_cell, new_notebook

    writes = []
    write = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: (writes.append(path), write(nb, path)))
    source = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(f"print({i} * {i})") for i in range(6)]), source)
    with rs.kernel_session(shared_kernel=False):
        rs.execute(source, tmp_path / "out.ipynb", None, log_output=False, timeout=60)
    assert len(writes) == 1  # papermill alone writes 14 times: at the start, and before and after each cell
    outputs = [c.outputs[0].text for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells]
    assert outputs == [f"{i * i}\n" for i in range(6)]


@pytest.mark.slow
def test_a_warmed_up_shared_kernel_answers_the_next_client_at_once():
    """ipykernel 7 can lose an execute request sent before its kernel_info handshake; the warm-up must not.

    Before the fix, 3 of 8 such starts here left the next client waiting 30 s or more; 5 starts catch it ~90% of times.
    """
    for _ in range(5):
        with rs.kernel_session(shared_kernel=True) as kernel:
            assert kernel is not None
            assert execute_in(kernel.ready(), "import sys; assert 'tensorflow' in sys.modules")["status"] == "ok"


@pytest.mark.slow
def test_clients_of_the_shared_kernel_skip_the_final_iopub_drain_and_still_receive_every_output():
    with rs.kernel_session(shared_kernel=True) as kernel:
        assert kernel is not None
        for i in range(5):
            km = kernel.ready()
            assert isinstance(km.client(), rs.prompt_client_class())
            messages: list[dict] = []
            reply = execute_in(km, f"print('notebook {i}')\n{i} * 10", messages.append)
            assert reply["status"] == "ok"
            kinds = {m["msg_type"]: m["content"] for m in messages}
            assert kinds["stream"]["text"] == f"notebook {i}\n"
            assert kinds["execute_result"]["data"]["text/plain"] == str(i * 10)


@pytest.mark.slow
def test_the_shared_kernel_forgets_each_notebooks_variables_figures_and_keras_names():
    with rs.kernel_session(shared_kernel=True) as kernel:
        assert kernel is not None
        setup = "import keras, matplotlib.pyplot as plt\nx = 1\nplt.figure()\nassert keras.layers.Dense(1).name == 'dense'"
        assert execute_in(kernel.ready(), setup)["status"] == "ok"
        km = kernel.ready()  # between notebooks: reset
        assert execute_in(km, "x")["ename"] == "NameError"
        check = "import keras, matplotlib.pyplot as plt\nassert not plt.get_fignums()\nassert keras.layers.Dense(1).name == 'dense'"
        assert execute_in(km, check)["status"] == "ok"


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
def test_first_notebook_runs_on_real_photos(tmp_path: Path):
    status = rs.main(["--notebooks", "01", "--data-root", str(REAL_SAMPLE), "--out", str(tmp_path), *SMALL[:8],
                      "-p", "negative_split_counts=[150, 150, 150, 150]", "-p", "positive_split_counts=[150, 15, 30, 30]"])  # fmt: skip
    assert status == 0
    result = json.loads((tmp_path / "results" / "01_balanced_vs_unbalanced.json").read_text())
    assert result["parameters"]["data_root"] == str(REAL_SAMPLE.resolve())
    assert len(result["test"]["files"]) == 180
    assert all(f.startswith(("train/cats/", "train/dogs/")) for f in result["test"]["files"])
    assert sum(result["test"]["labels"]) == 30
    for run in result["runs"]:
        assert len(run["test_scores"]) == 180 and all(0.0 <= s <= 1.0 for s in run["test_scores"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _start_run(out: Path) -> subprocess.Popen:
    args = [sys.executable, str(rs.PROJECT_ROOT / "run_series.py"), "--notebooks", "01", "--out", str(out), *SMALL,
            "-p", "epochs=30", "-p", "patience=0"]  # fmt: skip
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_training(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    partial = out / ".01_balanced_vs_unbalanced.partial.ipynb"
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and "--- model" in partial.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"the run never reached training: {proc.communicate()[0][-2000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_an_interrupted_run_leaves_the_previous_run_unchanged(tmp_path: Path, how: str):
    out = tmp_path / "run"
    assert rs.main(["--notebooks", "01", "--out", str(out), *SMALL]) == 0
    before = _snapshot(out)
    proc = _start_run(out)
    _wait_for_training(out, proc)
    os.killpg(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
    output = proc.communicate(timeout=120)[0]
    if how == "ctrl-c":
        assert proc.returncode == 130, output[-2000:]
        assert "interrupted" in output
        assert _snapshot(out) == before  # no half-written notebook or results, nothing earlier changed
    else:
        after = {k: v for k, v in _snapshot(out).items() if not Path(k).name.startswith(".")}
        assert after == before  # a hidden partial file may remain; every visible file is unchanged
        assert rs.main(["--notebooks", "01", "--out", str(out), "--resume", *SMALL]) == 0
        assert _snapshot(out) == before  # stale partial cleaned, complete notebook skipped


@pytest.mark.slow
def test_resume_skips_complete_notebooks_with_the_same_parameters(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert rs.main(["--notebooks", "01", "--out", str(out), *SMALL]) == 0
    first = (out / FIRST.name).read_bytes()
    capsys.readouterr()
    assert rs.main(["--notebooks", "01", "--out", str(out), "--resume", *SMALL]) == 0
    assert "skipped" in capsys.readouterr().out and (out / FIRST.name).read_bytes() == first
    assert rs.main(["--notebooks", "01", "--out", str(out), "--resume", *SMALL, "-p", "seeds=[2]"]) == 0
    assert (out / FIRST.name).read_bytes() != first  # other parameters: executed again


@pytest.mark.slow
def test_whole_series_with_variants_and_summary(tmp_path: Path):
    status = rs.main(["--out", str(tmp_path), *SMALL, "-p", "seeds=[1, 2]"])
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
    status = rs.main(["--notebooks", "01", "--data-root", str(root), "--out", str(out), "-p", "image_size=16",
                      "-p", "epochs=1", "-p", "seeds=[1]", "-p", "batch_size=4",
                      "-p", "negative_split_counts=[3, 3, 2, 2]", "-p", "positive_split_counts=[3, 1, 2, 2]"])  # fmt: skip
    assert status == 0
    result = json.loads((out / "results" / "01_balanced_vs_unbalanced.json").read_text())
    assert set(result["test"]["files"]) <= good and len(result["test"]["files"]) == 4
    executed = (out / FIRST.name).read_text()
    for name in bad:
        assert name in executed  # every skipped file is named in the notebook's data check
    assert f"skipped {len(bad)} file(s)" in executed
