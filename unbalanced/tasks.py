"""Trainings as tasks: each (recipe, split seed, seed) under one protocol is a task with a key, and its result is one
record in the run folder, written whole. A task whose record exists is not trained again (resume)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .datasets import StudyData, load_study_data
from .files import relative_names
from .splits import TRAINING_SETS, SplitCounts, SplitPlan
from .storage import PROJECT_ROOT, DataError, write_json_atomic
from .training import Recipe, Trained, default_steps_per_epoch, train_recipe

PROTOCOL_VERSION = 3  # change it whenever training or scoring changes what a record holds
RESULTS_DIRNAME = "results"


@dataclass(frozen=True)
class Protocol:
    """Everything a training depends on besides its recipe, split seed and seed: the same for every compared record."""

    data_root: str  # the folder, relative to the project when inside it, so a clone elsewhere keys records alike
    data_fingerprint: str  # hash of the usable files' class and path: which images the check kept
    positive_class: str
    image_size: int
    negative_split_counts: tuple[int, int, int]
    positive_split_counts: tuple[int, int, int]
    more_positives: int
    batch_size: int
    epochs: int
    patience: int
    steps_per_epoch: int
    onednn: bool
    threads: int
    tensorflow: str
    version: int = PROTOCOL_VERSION

    @property
    def counts(self) -> SplitCounts:
        """The split counts."""
        return SplitCounts(self.negative_split_counts, self.positive_split_counts, self.more_positives)

    def describe(self) -> str:
        """One line: the budget every recipe gets."""
        return (f"{self.image_size} × {self.image_size} px, batch {self.batch_size}, at most {self.epochs} epochs of "
                f"{self.steps_per_epoch} updates, patience {self.patience}")  # fmt: skip


def data_fingerprint(data: StudyData) -> str:
    """A short hash of which images the data check kept, per class."""
    names = {c: relative_names(data.root, files) for c, files in data.check.usable.items()}
    return hashlib.sha256(json.dumps(names, sort_keys=True).encode()).hexdigest()[:16]


def portable_root(root: Path) -> str:
    """A data root as records name it: relative to the project when inside it (the bundled photos), else absolute."""
    for form in (Path(os.path.abspath(root)), Path(root).resolve()):  # unresolved first: data/ may be a link elsewhere
        try:
            return form.relative_to(PROJECT_ROOT).as_posix()
        except ValueError:
            continue
    return str(Path(root).resolve())


def make_protocol(data: StudyData, image_size: int, batch_size: int, epochs: int, patience: int, steps_per_epoch: int,
                  onednn: bool, threads: int) -> Protocol:  # fmt: skip
    """The protocol of a study on this data; steps_per_epoch 0 means one pass over the unbalanced training set."""
    import tensorflow as tf

    c = data.counts
    steps = steps_per_epoch or default_steps_per_epoch(c.negatives[0], c.positives[0], batch_size)
    return Protocol(portable_root(data.root), data_fingerprint(data), data.positive, image_size, c.negatives, c.positives,
                    c.more_positives, batch_size, epochs, patience, steps, onednn, threads, tf.__version__)  # fmt: skip


@dataclass(frozen=True)
class Task:
    """One training: a recipe under one split seed and one seed."""

    recipe: Recipe
    split_seed: int
    seed: int

    def key(self, protocol: Protocol) -> str:
        """A hash of everything that determines this training's result."""
        spec = {"protocol": asdict(protocol), "recipe": self.recipe.spec(), "split_seed": self.split_seed, "seed": self.seed}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]

    def describe(self) -> str:
        """How progress lines name the task (with its training set's size when it is not one of the named sets)."""
        size = "" if self.recipe.train_set in TRAINING_SETS else " on {} negatives and {} positives".format(*self.recipe.train_set.split(":"))
        return f"{self.recipe.label}{size}, split {self.split_seed}, seed {self.seed}"


@dataclass
class Record:
    """The result of one task: what was trained, under which protocol, and its validation and test scores."""

    key: str
    recipe: Recipe
    split_seed: int
    seed: int
    protocol: Protocol
    trained: Trained
    val_labels: np.ndarray
    test_labels: np.ndarray
    test_fingerprint: str
    trained_on: dict[str, str] = field(default_factory=dict)  # the code version and machine (`provenance`); not in the key

    @property
    def label(self) -> str:
        """The recipe's name."""
        return self.recipe.label

    @property
    def run(self) -> tuple[int, int]:
        """The paired run this record belongs to: (split seed, seed)."""
        return self.split_seed, self.seed

    def to_json(self) -> dict[str, Any]:
        """The record as written to disk: scores at full precision, and nothing that differs between two runs of the
        same task on one machine (no wall time), so such runs write identical files."""
        t = self.trained
        return {"key": self.key, "recipe": self.recipe.spec(), "split_seed": self.split_seed, "seed": self.seed,
                "protocol": asdict(self.protocol), "best_epoch": t.best_epoch, "epochs_run": t.epochs_run,
                "steps_per_epoch": t.steps_per_epoch, "updates": t.updates, "effective_prior": t.effective_prior,
                "history": t.history, "val_labels": self.val_labels, "test_labels": self.test_labels,
                "test_fingerprint": self.test_fingerprint, "val_scores": t.val_scores, "test_scores": t.test_scores,
                "trained_on": self.trained_on}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        """Read a record written by to_json."""
        recipe = d["recipe"]
        recipe = Recipe(**{**recipe, "focal": tuple(recipe["focal"]) if recipe["focal"] else None})
        p = d["protocol"]
        protocol = Protocol(**{**p, **{k: tuple(p[k]) for k in ("negative_split_counts", "positive_split_counts")}})
        trained = Trained(d["best_epoch"], d["epochs_run"], d["steps_per_epoch"], d["effective_prior"], d["history"],
                          np.asarray(d["val_scores"], float), np.asarray(d["test_scores"], float))  # fmt: skip
        return cls(d["key"], recipe, d["split_seed"], d["seed"], protocol, trained, np.asarray(d["val_labels"], int),
                   np.asarray(d["test_labels"], int), d["test_fingerprint"], d.get("trained_on", {}))  # fmt: skip


def processor_kind(cpuinfo: str) -> str:
    """The widest vector instructions a processor offers, from /proc/cpuinfo's flags: TensorFlow's CPU numbers differ
    between these kinds, so every record says which trained it."""
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    for flag, kind in (("amx_tile", "AVX-512 + AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return kind
    return platform.machine() or "unknown"


TRAINING_CODE = ("unbalanced", "requirements.txt")  # what a record's numbers depend on, besides its protocol


@functools.lru_cache(maxsize=1)
def provenance() -> dict[str, str]:
    """Which code and machine trained a record: the last commit that changed the training code ("+changes" when that
    code differs from it; committing records or prose changes neither), the processor's model and kind, and the
    Python platform. Read once per process, as the process imports the code once."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("log", "-1", "--format=%H", "--", *TRAINING_CODE) or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no", "--", *TRAINING_CODE):
        commit += "+changes"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), platform.processor())
    return {"commit": commit, "processor": model or "unknown", "processor_kind": processor_kind(cpuinfo), "platform": platform.platform()}


def files_fingerprint(files: Sequence[str]) -> str:
    """A short hash of a list of files (which test images a record was scored on)."""
    return hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]


def record_path(results_dir: Path, task: Task, key: str) -> Path:
    """Where a task's record lives: a readable name and the key's start."""
    slug = re.sub(r"[^a-z0-9]+", "-", task.recipe.label.lower().replace("α", "alpha").replace("γ", "gamma")).strip("-")
    size = "" if task.recipe.train_set in TRAINING_SETS else f"_{task.recipe.train_set.replace(':', 'to')}"
    return results_dir / f"{slug}{size}_split{task.split_seed}_seed{task.seed}_{key[:10]}.json"


def read_record(path: Path, key: str) -> Record | None:
    """The record at `path` if it is whole and has this key, else None (then the task is trained again)."""
    try:
        record = Record.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if record.key.startswith(key) else None  # the full key, or the start a file name carries


def training_set_of(recipe: Recipe, plan: SplitPlan, counts: SplitCounts) -> tuple[int, int]:
    """(negatives, positives) of the training set a recipe names."""
    if recipe.train_set in TRAINING_SETS:
        return counts.train_counts(recipe.train_set)
    try:
        negatives, positives = map(int, recipe.train_set.split(":"))
    except ValueError:
        raise DataError(f"training set {recipe.train_set!r}: use one of {TRAINING_SETS} or '<negatives>:<positives>'") from None
    return negatives, positives


def run_task(task: Task, protocol: Protocol, data: StudyData) -> Record:
    """Train one task on data already in memory and return its record."""
    plan = data.plan(task.split_seed)
    train = plan.training_set(*training_set_of(task.recipe, plan, data.counts))
    trained = train_recipe(task.recipe, task.seed, (data.images(train), train.labels), (data.images(plan.val), plan.val.labels),
                           data.images(plan.test), protocol.batch_size, protocol.epochs, protocol.patience,
                           protocol.steps_per_epoch)  # fmt: skip
    return Record(task.key(protocol), task.recipe, task.split_seed, task.seed, protocol, trained, plan.val.labels,
                  plan.test.labels, files_fingerprint(plan.test.files), provenance())  # fmt: skip


def progress_line(counter: str, task: Task, record: Record) -> str:
    """One line per task: which training, the kept epoch and its validation average precision."""
    t = record.trained
    return f"{counter} {task.describe()}: kept epoch {t.best_epoch} of {t.epochs_run}, validation AP {t.history['val_ap'][t.best_epoch - 1]:.3f}"


def run_tasks(
    tasks: Sequence[Task],
    protocol: Protocol,
    data: StudyData,
    results_dir: Path,
    execute: Callable[[Sequence[Task]], Iterable[tuple[Task, Record]]] | None = None,
    echo: Callable[[str], None] = print,
) -> list[Record]:
    """Return every task's record, in task order: read from the results folder where whole, else trained and written.

    `execute` trains the missing tasks and yields (task, record) as each finishes (default: one after another in
    this process); each record is written as soon as it arrives, so a stopped run loses at most the tasks in flight.
    One line per task is echoed in task order, whether it was trained now or read back, with how many are left to
    train and about how long that takes at the pace so far.
    """
    start, keys = time.perf_counter(), {task: task.key(protocol) for task in tasks}
    records = {task: read_record(record_path(results_dir, task, keys[task]), keys[task]) for task in tasks}
    missing = [task for task in tasks if records[task] is None]
    printed, trained = 0, 0

    def echo_ready() -> None:
        nonlocal printed
        while printed < len(tasks) and records[tasks[printed]] is not None:
            left = len(missing) - trained
            pace = (time.perf_counter() - start) / trained if trained else 0.0
            eta = f"; {left} to train, about {max(1, round(left * pace / 60))} min left" if left and trained else ""
            echo(progress_line(f"[{printed + 1}/{len(tasks)}]", tasks[printed], records[tasks[printed]]) + eta)  # type: ignore[arg-type]
            printed += 1

    echo_ready()
    execute = execute or (lambda todo: ((task, run_task(task, protocol, data)) for task in todo))
    for task, record in execute(missing):
        write_json_atomic(record_path(results_dir, task, keys[task]), record.to_json())
        records[task] = record
        trained += 1
        echo_ready()
    echo(f"{len(missing)} of {len(tasks)} trainings ran in {time.perf_counter() - start:.0f} s; "
         f"{len(tasks) - len(missing)} were read back from the run folder")
    return [records[task] for task in tasks]  # type: ignore[misc]


def worker_data(data_root: str, positive_class: str, classes: Sequence[str] | None, image_size: int, counts: SplitCounts,
                split_seeds: Sequence[int]) -> StudyData:  # fmt: skip
    """The study's data in a worker process: read from the image cache the data check wrote (decoded only if absent)."""
    return load_study_data(Path(data_root), positive_class, classes, image_size, counts, split_seeds)
