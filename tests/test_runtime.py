"""Tests for unbalanced/runtime.py: starting TensorFlow quietly and collecting notebook parameters."""

from __future__ import annotations

import subprocess
import sys

from unbalanced.runtime import collect_parameters, processor_kind
from unbalanced.storage import PROJECT_ROOT


def test_collect_parameters_returns_names_defined_after_the_snapshot():
    namespace = {"In": [], "_i1": "", "sys": sys}
    before = set(namespace)
    namespace.update({"epochs": 3, "data_root": "", "_i2": "x"})
    assert collect_parameters(namespace, before) == {"epochs": 3, "data_root": ""}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)


def test_importing_the_facade_prints_nothing_and_sets_nothing():
    done = _python("import os; before = dict(os.environ); import helpers, sys; "
                   "assert 'tensorflow' not in sys.modules; assert dict(os.environ) == before")  # fmt: skip
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr[-2000:]


def test_starting_tensorflow_is_quiet_and_states_its_choices():
    done = _python("import helpers as h; s = h.start_tensorflow(onednn=False); import os; "
                   "print(s.describe(), os.environ['TF_ENABLE_ONEDNN_OPTS'])")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""  # no C++ start-up lines, no cuInit error
    assert "oneDNN off" in done.stdout and done.stdout.strip().endswith(" 0") and "CPU only" in done.stdout


def test_a_verbose_start_lets_tensorflow_speak():
    done = _python("from unbalanced.runtime import start_tensorflow; start_tensorflow(verbose=True)")
    assert done.returncode == 0 and "cuda" in done.stderr.lower()  # what the quiet start hides is really there


def test_processor_kind_names_the_instruction_set():
    flags = open("/proc/cpuinfo").read()
    assert processor_kind() == ("AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "other") or \
        processor_kind().startswith("AVX-512")  # fmt: skip
