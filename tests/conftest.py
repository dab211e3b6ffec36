"""Shared fixtures: tiny generated image folders, so tests run fast without real photos."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import unbalanced.decode
from unbalanced.cache import IMAGE_CACHE_ENV
from unbalanced.runtime import start_tensorflow
from unbalanced.storage import PROJECT_ROOT
from unbalanced.study import OUTPUT_DIR_ENV
from unbalanced.synthetic import make_demo_dataset, write_jpegs
from unbalanced.tasks import Protocol, Record, Task
from unbalanced.training import Recipe, Trained

start_tensorflow(onednn=True)  # as the notebooks do: quiet, with the project's oneDNN choice

REAL_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "cats-vs-dogs-sample"


@pytest.fixture(autouse=True, scope="session")
def private_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point the image cache at a folder of this test session (the notebooks' kernels inherit it too)."""
    folder = tmp_path_factory.mktemp("image-cache")
    os.environ[IMAGE_CACHE_ENV] = str(folder)
    return folder


@pytest.fixture(autouse=True, scope="session")
def private_run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Give notebooks that name no run folder (tests execute some with an empty output_dir) a folder of this session,
    so they read only what this session wrote. The stored notebooks name theirs (runs/stored/<name>, unpacked from
    records/<name>), which nbval executes them from."""
    folder = tmp_path_factory.mktemp("notebook-runs")
    os.environ[OUTPUT_DIR_ENV] = str(folder)
    return folder


@pytest.fixture(autouse=True)
def fresh_metric_rows() -> None:
    """Each test computes its comparisons' rows anew: a test may change how a metric is computed."""
    from unbalanced.stats import forget_rows

    forget_rows()


def as_at_a_terminal() -> None:
    """Popen's preexec_fn for a run that a test interrupts: SIGINT as a terminal user's shell leaves it. A process started
    in the background of a non-interactive shell (CI scripts, `nohup ... &`) inherits SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt, so the test would not be testing Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def at_once(call: Callable[[], object], threads: int = 2) -> list[BaseException]:
    """Run `call` in `threads` threads released together; return what they raised. Each opens its own lock file, so
    flock excludes them from each other as it does processes."""
    import threading

    together, errors = threading.Barrier(threads), []

    def run() -> None:
        together.wait()
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(exc)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in started), "a thread is still waiting after 60 s"
    return errors


def write_images(folder: Path, n: int, value: int, size: int = 20, prefix: str = "img") -> list[Path]:
    """Write `n` flat-colour JPEGs of grey level `value` into `folder`."""
    return write_jpegs(folder, (np.full((size, size + i % 3, 3), value, np.uint8) for i in range(n)), prefix, quality=95)


@pytest.fixture
def flat_root(tmp_path: Path) -> Path:
    """A data root whose 'cats' are black and 'dogs' white, so an image's pixels reveal its class."""
    write_images(tmp_path / "train" / "cats", 12, 0, prefix="cat")
    write_images(tmp_path / "train" / "dogs", 8, 255, prefix="dog")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small copy of the synthetic demo dataset (40 images per class)."""
    return make_demo_dataset(tmp_path_factory.mktemp("demo"), per_class=40)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """Write a PNG whose header claims width x height pixels, without pixel data (a 'decompression bomb' header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture
def messy_root(tmp_path: Path) -> tuple[Path, set[str], dict[str, str]]:
    """A data root mixing good images with every kind of bad file; returns it, the good files and the bad ones' reasons."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "messy root"
    cats, dogs = root / "train" / "cats", root / "train" / "dogs"
    good: set[str] = set()

    def image(path: Path, mode: str = "RGB", fmt: str | None = None, size: tuple[int, int] = (40, 30)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(path, format=fmt)
        good.add(str(path.relative_to(root)))

    for i in range(6):
        image(cats / f"cat.{i}.jpg")
        image(dogs / f"dog.{i}.jpg")
    image(cats / "grey.jpg", "L")
    image(cats / "cmyk.jpg", "CMYK")
    image(cats / "alpha.png", "RGBA")
    image(dogs / "png named as.jpg", fmt="PNG")
    image(dogs / "palette.gif", "P")
    image(dogs / "bitmap.bmp")
    image(dogs / "big photo.jpg", size=(2400, 1800))
    image(cats / "nested" / "deeper" / "chat noir é.jpg")
    (dogs / "link to dog.jpg").symlink_to(dogs / "dog.0.jpg")
    good.add("train/dogs/link to dog.jpg")

    bad: dict[str, str] = {}
    jpeg = (cats / "cat.0.jpg").read_bytes()
    (cats / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    bad["truncated.jpg"] = "JPEG"
    corrupt = bytearray(jpeg)
    corrupt[2:400] = rng.integers(0, 255, 398, dtype=np.uint8).tobytes()
    (cats / "corrupt.jpg").write_bytes(bytes(corrupt))
    bad["corrupt.jpg"] = "decode"
    (dogs / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty"
    (cats / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    bad[".DS_Store"] = "hidden"
    (dogs / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    bad["Thumbs.db"] = "not an image"
    (dogs / "notes.txt").write_text("labels checked by hand")
    bad["notes.txt"] = "not an image"
    _png_header_only(dogs / "huge.png", 30000, 20000)
    bad["huge.png"] = "too large"
    (cats / "loop").symlink_to(cats)
    bad["loop"] = "loop"
    (cats / "gone.jpg").symlink_to(cats / "does-not-exist.jpg")
    bad["gone.jpg"] = "broken"
    locked = cats / "locked.jpg"
    locked.write_bytes(jpeg)
    locked.chmod(0)
    bad["locked.jpg"] = "cannot be read"
    return root, good, bad


@pytest.fixture
def unreadable_for_root(monkeypatch: pytest.MonkeyPatch):
    """Root reads files whatever their permission bits: make a chmod-000 file unreadable for root too."""
    real = unbalanced.decode.read_head

    def read_head(path: Path) -> bytes:
        if not os.stat(path).st_mode & 0o444:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(unbalanced.decode, "read_head", read_head)


def labelled_images(n_neg: int, n_pos: int, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first pixel encodes their index and whose brightness encodes their class."""
    labels = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    images = np.zeros((len(labels), size, size, 3), np.uint8)
    images[labels == 1] = 200
    images[:, 0, 0, 0] = np.arange(len(labels))
    return images, labels


PROTOCOL = Protocol("/data/pets", "abc", "dogs", 16, (60, 40, 60), (10, 10, 10), 40, 16, 2, 1, 5, True, 0, "2.21.0")


def fake_record(recipe: Recipe, split_seed: int, seed: int, val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                protocol: Protocol = PROTOCOL, test_fingerprint: str = "test-files") -> Record:  # fmt: skip
    """A record with the given (labels, scores) for validation and test, as if trained under `protocol`."""
    trained = Trained(1, 1, protocol.steps_per_epoch, 0.1, {"loss": [1.0], "val_ap": [0.5]}, np.asarray(val[1], float),
                      np.asarray(test[1], float))  # fmt: skip
    key = Task(recipe, split_seed, seed).key(protocol)
    return Record(key, recipe, split_seed, seed, protocol, trained, np.asarray(val[0]), np.asarray(test[0]), test_fingerprint)


def scored_runs(effect: float, runs: int = 3, n_neg: int = 300, n_pos: int = 30, seed: int = 0,
                recipe: Recipe | None = None) -> tuple[list[Record], list[Record]]:  # fmt: skip
    """Baseline and remedy records over `runs` paired runs (one split each) on one shared test block and validation
    block at 1 : 10: the remedy's scores separate the classes `effect` better; each run draws its own training noise."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    val_labels = np.r_[np.zeros(10 * n_pos, int), np.ones(n_pos, int)]
    difficulty = rng.normal(0, 1, len(labels))  # what makes an image hard, whatever the model
    val_difficulty = rng.normal(0, 1, len(val_labels))
    base, remedy = [], []
    for run in range(runs):
        for records, strength in ((base, 1.0), (remedy, 1.0 + effect)):
            quality = strength + rng.normal(0, 0.1)  # this run's training noise
            val = 1 / (1 + np.exp(-(quality * val_labels + val_difficulty + rng.normal(0, 0.7, len(val_labels)))))
            test = 1 / (1 + np.exp(-(quality * labels + difficulty + rng.normal(0, 0.7, len(labels)))))
            records.append(fake_record(recipe if records is remedy and recipe else Recipe("baseline" if records is base else "remedy"),
                                       run, 1, (val_labels, val), (labels, test)))  # fmt: skip
    return base, remedy


def demo_study(root: Path, **changes: object) -> Any:
    """A small study on the tiny demo root: 16 px, two epochs, three split seeds."""
    from unbalanced.study import Study

    parameters = dict(data_root=str(root), positive_class="dogs", classes=[], image_size=16, batch_size=8, epochs=2, patience=1,
                      steps_per_epoch=0, negative_split_counts=[14, 8, 8], positive_split_counts=[4, 4, 4], more_positives=14,
                      split_seeds=[0, 1, 2], seeds=[1], tuning_split_seeds=[100, 101], target_recall=0.8,
                      output_dir=str(root.parent / "run"))  # fmt: skip
    return Study.from_parameters({**parameters, **changes})
