"""Starting TensorFlow the way the study needs it: quiet, with a stated oneDNN choice, seeded and deterministic.

Nothing here runs on import. The notebooks' first cell and the command-line tools call `start_tensorflow` before
anything imports TensorFlow, because its logging and oneDNN switches are read once, when it loads.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

QUIET_LOG_LEVEL = "3"  # TensorFlow's C++ log: 3 keeps errors too, since "failed call to cuInit" reads as one on CPUs


@dataclass(frozen=True)
class TensorFlowSetup:
    """What `start_tensorflow` found and chose: TensorFlow's version, the GPUs it sees, oneDNN and thread counts."""

    version: str
    gpus: tuple[str, ...]
    onednn: bool
    threads: int  # intra-op threads; 0 lets TensorFlow use every core

    def describe(self) -> str:
        """One line for a notebook's set-up cell."""
        device = f"{len(self.gpus)} GPU(s)" if self.gpus else "CPU only"
        threads = f"{self.threads} thread(s)" if self.threads else "all cores"
        return f"TensorFlow {self.version}, {device}, oneDNN {'on' if self.onednn else 'off'}, {threads}"


def start_tensorflow(onednn: bool = True, threads: int = 0, verbose: bool = False) -> TensorFlowSetup:
    """Import TensorFlow with the given oneDNN choice and thread count, silencing its start-up lines unless verbose.

    oneDNN's CPU kernels are TensorFlow's own default only on processors with AVX-512; the study turns them on
    everywhere because they are faster on AVX2 too (docs/performance.md). They change trained numbers in the last
    digits, so the choice is part of every results record. `threads` > 0 pins intra- and inter-op threads, so that
    a training gives the same numbers wherever it runs (docs/distributed.md).
    """
    if "tensorflow" not in sys.modules:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
        if not verbose:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LOG_LEVEL
        _import_tensorflow(quiet=not verbose)
    import tensorflow as tf

    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as exc:  # TensorFlow's runtime already started with other thread counts
            raise RuntimeError(f"threads={threads} must be chosen before TensorFlow runs its first operation "
                               "(start a new kernel or worker)") from exc  # fmt: skip
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # take GPU memory as needed, not all at once
    return TensorFlowSetup(tf.__version__, tuple(g.name for g in gpus), onednn_enabled(), threads)


def onednn_enabled() -> bool:
    """Whether the TensorFlow loaded in this process uses oneDNN's CPU kernels."""
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is not None:
        return value.strip().lower() in {"1", "true"}
    return "avx512f" in _cpu_flags()  # TensorFlow's own default


def processor_kind() -> str:
    """'AVX-512' or 'AVX2' (or 'other'): the instruction set that decides TensorFlow's CPU numbers and speed."""
    flags = _cpu_flags()
    if "avx512f" in flags:
        return "AVX-512" + (" + AMX" if "amx_tile" in flags else "")
    return "AVX2" if "avx2" in flags else "other"


def _cpu_flags() -> set[str]:
    """The processor's feature flags from /proc/cpuinfo (empty where it does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _import_tensorflow(quiet: bool) -> None:
    """Import TensorFlow; with quiet, the lines its C++ start-up writes to file descriptor 2 are dropped.

    CUDA stubs log before TensorFlow's own log level applies, straight to the process's stderr, so the level alone
    cannot hide them; Python's sys.stderr is untouched, and errors raised by the import still propagate.
    """
    if not quiet:
        import tensorflow  # noqa: F401
        return
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# The study's settings that a notebook's parameters cell leaves out, so that a reader takes the cell in at a glance:
# every notebook that trains (the ones that declare data_root) takes them all the same (run_series.py -p, --config),
# and Study.from_parameters fills in these defaults where a notebook was given none. name -> (default, meaning)
SETTINGS: dict[str, tuple[Any, str]] = {
    "classes": ([], "the two class folders to use, when train/ holds more"),
    "batch_size": (32, "images per update"),
    "patience": (3, "stop after this many epochs without a better validation AP (0: never stop early, keep the last)"),
    "steps_per_epoch": (0, "updates per epoch, the same for every recipe; 0: one pass over the unbalanced training set"),
    "negative_split_counts": ([1000, 1000, 3000], "negatives for training, validation, test"),
    "positive_split_counts": ([100, 100, 900], "positives for training (1 : 10), validation, test (scored at the validation ratio)"),
    "more_positives": (1000, 'positives in the "more positives" reference (the original post\'s balanced set)'),
    "seeds": ([42], "training seed(s) per split, offset by 1000 × the split seed so that each split has its own"),
    "tuning_split_seeds": ([100, 101], "the tuning phase's split seeds, where each remedy's setting is chosen"),
    "scheduler": ("", "the address of a running Dask scheduler, such as tcp://host:8786"),
    "threads": (0, "TensorFlow threads per training; 0: all cores (the runner's --workers sets 1)"),
}


def with_settings(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A notebook's parameters with the study's settings it was not given at their defaults."""
    return {**{name: default for name, (default, _) in SETTINGS.items()}, **parameters}


def collect_parameters(namespace: Mapping[str, Any], names_before: Iterable[str]) -> dict[str, Any]:
    """Return the public names a notebook defined since `names_before` was taken: its parameters, injected ones included."""
    before = set(names_before)
    return {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}


PROGRESS_ENV = "UNBALANCED_PROGRESS_FILE"  # set by the runner: where its kernels append progress lines for it to print


def progress(line: str) -> None:
    """A training's progress line. Under the runner it goes to the file the runner relays to its terminal; in a
    notebook a reader runs in JupyterLab, and outside a kernel, it is printed; a headless kernel with no runner
    listening (nbval) keeps it out of the notebook, so stored notebooks and posts carry none."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if shell is not None and hasattr(shell, "kernel") and not os.environ.get("JPY_SESSION_NAME"):
        return
    print(line, flush=True)
