"""Shared data pipeline, model, evaluation, plots and result records for the notebook series.

Functions are grouped in the order data flows:
setup -> find files -> demo data -> split -> pipeline -> model -> train -> evaluate -> plot -> record results.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebook outputs
# oneDNN's CPU kernels: TensorFlow turns them on by itself only on CPUs with AVX-512/AMX; on an AVX2 CPU they
# made a training epoch of the CNN about 1.6x faster (README, Performance). Set to 0 before importing helpers to opt out.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent
DEMO_ROOT = PROJECT_ROOT / "data" / "demo"
SPLIT_NAMES = ("train_balanced", "train_unbalanced", "val", "test")
RESULTS_DIRNAME = "results"


class DataError(ValueError):
    """Raised when the data root, a class folder or a split request cannot be used."""


# --------------------------------------------------------------------------- setup


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Return `path` as an absolute path; relative paths are taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def collect_parameters(namespace: Mapping[str, Any], names_before: Iterable[str]) -> dict[str, Any]:
    """Return the public names a notebook defined since `names_before` was taken: its parameters, injected ones included."""
    before = set(names_before)
    return {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}


def configure_gpus() -> list[str]:
    """Turn on memory growth for every visible GPU and return their names (empty on CPU)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return [gpu.name for gpu in gpus]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# --------------------------------------------------------------------------- find files


KAGGLE_FLAT_HINT = (
    "it looks like the Kaggle flat layout (train/cat.1.jpg, train/dog.1.jpg); arrange it into class folders with "
    "`python data_tools.py arrange-kaggle {train} <new data root>` (copies or links; your files stay where they are)"
)


def list_class_folders(data_root: str | os.PathLike[str], classes: Sequence[str] | None = None) -> list[Path]:
    """Return the two class folders under `<data_root>/train/`, or say exactly what the layout lacks."""
    root = Path(data_root)
    train_dir = root / "train"
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist: pass the folder that holds train/<class>/ images")
    if not train_dir.is_dir():
        raise DataError(f"{train_dir} is missing: the data root must hold train/<class>/<image files>")
    folders = sorted(p for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = [p for p in train_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
        hint = KAGGLE_FLAT_HINT.format(train=train_dir) if loose else "expected train/<class>/<image files>"
        raise DataError(f"{train_dir} has no class folders{f' but {len(loose)} loose files' if loose else ''}: {hint}")
    names = [p.name for p in folders]
    if classes:
        missing = [c for c in classes if c not in names]
        if len(classes) != 2 or missing:
            raise DataError(f"classes={list(classes)} must name two of the class folders in {train_dir}: {names}")
        return [train_dir / c for c in sorted(classes)]
    if len(folders) != 2:
        raise DataError(f"expected exactly two class folders in {train_dir}, found {len(folders)}: {names}; "
                        "pick two with the `classes` parameter, e.g. classes=['cats', 'dogs']")  # fmt: skip
    return folders


def list_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every regular file under `folder`, nested folders and symbolic links followed (loops cut); plus what was passed over."""
    files: list[Path] = []
    passed: list[tuple[Path, str]] = []
    visited: set[Path] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        real = current.resolve()
        if real in visited:
            passed.append((current, "symbolic link loop: this folder was already read"))
            continue
        visited.add(real)
        try:
            with os.scandir(current) as it:  # the directory's own entry types: no stat per file unless it is a link
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            passed.append((current, f"folder cannot be read ({exc.strerror})"))
            continue
        for entry in entries:
            path = current / entry.name
            if entry.name.startswith("."):
                passed.append((path, "hidden file" if not entry.is_dir() else "hidden folder"))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                passed.append((path, "broken symbolic link"))
            elif entry.is_dir():
                stack.append(path)
            elif entry.is_file():
                files.append(path)
            else:
                passed.append((path, "not a regular file"))
    return sorted(files, key=lambda p: p.parts), passed


def find_class_files(data_root: str | os.PathLike[str], classes: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Map each class folder under `<data_root>/train/` (sorted by name) to its candidate files, nested ones included."""
    found = {folder.name: list_files(folder)[0] for folder in list_class_folders(data_root, classes)}
    empty = [name for name, fs in found.items() if not fs]
    if empty:
        raise DataError(f"class folder(s) {', '.join(empty)} under {Path(data_root) / 'train'} hold no files")
    return found


def class_roles(class_names: Sequence[str], positive_class: str) -> tuple[str, str]:
    """Return (negative, positive) class names for a two-class folder, checking the positive one exists."""
    names = list(class_names)
    if len(names) != 2:
        raise DataError(f"expected exactly two class folders under train/, found {len(names)}: {names}")
    if positive_class not in names:
        raise DataError(f"positive_class={positive_class!r} is not a class folder; choose one of {names}")
    negative = next(n for n in names if n != positive_class)
    return negative, positive_class


# --------------------------------------------------------------------------- demo data


def _demo_image(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    """Draw one synthetic RGB image: a noisy textured background with a blob whose hue depends on the class."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    background = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    gradient = rng.uniform(-0.3, 0.3, (2, 3)).astype(np.float32)
    img = background + yy[..., None] * gradient[0] + xx[..., None] * gradient[1]
    # Class signal: a hue score drawn from overlapping Gaussians (d' = 1.6), so no classifier is perfect.
    score = rng.normal(1.6 if positive else 0.0, 1.0)
    warmth = 1.0 / (1.0 + math.exp(-(score - 0.8)))
    colour = np.array([0.25 + 0.7 * warmth, 0.35, 0.95 - 0.7 * warmth], dtype=np.float32)
    cy, cx = rng.uniform(0.25, 0.75, 2)
    ry, rx = rng.uniform(0.12, 0.28, 2)
    blob = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1.0
    img[blob] = colour
    # A distractor blob of random colour, so the signal is not simply the mean colour.
    dy, dx = rng.uniform(0.1, 0.9, 2)
    distractor = (((yy - dy) / 0.12) ** 2 + ((xx - dx) / 0.12) ** 2) <= 1.0
    img[distractor] = rng.uniform(0.0, 1.0, 3)
    img += rng.normal(0.0, 0.06, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def make_demo_dataset(
    root: str | os.PathLike[str] = DEMO_ROOT,
    per_class: int = 2500,
    classes: tuple[str, str] = ("cats", "dogs"),
    seed: int = 0,
) -> Path:
    """Write the synthetic two-class JPEG dataset to `<root>/train/<class>/` once; return the root."""
    from PIL import Image

    root = Path(root)
    marker = root / f".complete-{per_class}-{seed}"
    if marker.exists():
        return root
    for label, name in enumerate(classes):
        out = root / "train" / name
        out.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, label])
        for i in range(per_class):
            size = int(rng.integers(56, 97))
            Image.fromarray(_demo_image(rng, positive=label == 1, size=size)).save(out / f"{name[:-1]}.{i}.jpg", quality=90)
    marker.touch()
    return root


def data_root_or_demo(data_root: str) -> Path:
    """Return the data root to use: the given folder, or the built-in demo dataset when it is empty."""
    return make_demo_dataset() if not data_root else resolve_path(data_root)


# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Split:
    """Image files of one split and their labels (1 = positive class)."""

    files: tuple[str, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.files)

    @property
    def positives(self) -> int:
        """Number of positive-class files in the split."""
        return int(self.labels.sum())


def split_files(
    files_by_class: Mapping[str, Sequence[Path]],
    counts: Mapping[str, Sequence[int]],
    positive_class: str,
    seed: int,
    split_names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, Split]:
    """Shuffle each class's files with `seed` and cut disjoint splits of the given sizes per class."""
    per_split: dict[str, list[tuple[str, int]]] = {name: [] for name in split_names}
    for class_name in sorted(counts):
        wanted = list(counts[class_name])
        if class_name not in files_by_class:
            raise DataError(f"split counts name class {class_name!r}, which is not a class folder: {sorted(files_by_class)}")
        if len(wanted) != len(split_names):
            raise DataError(f"class {class_name!r}: give {len(split_names)} split counts {list(split_names)}, got {wanted}")
        if any(int(c) < 0 for c in wanted):
            raise DataError(f"class {class_name!r}: split counts must not be negative, got {wanted}")
        available = sorted(files_by_class[class_name])
        if sum(wanted) > len(available):
            raise DataError(
                f"class {class_name!r}: the splits ask for {sum(wanted)} files {wanted} but only {len(available)} "
                "were found; lower the split counts"
            )
        order = np.random.default_rng(seed).permutation(len(available))
        label = int(class_name == positive_class)
        start = 0
        for split_name, n in zip(split_names, wanted):
            chosen = [available[i] for i in order[start : start + int(n)]]
            per_split[split_name].extend((str(f), label) for f in chosen)
            start += int(n)
    return {
        name: Split(tuple(f for f, _ in items), np.array([lab for _, lab in items], dtype=np.int32))
        for name, items in per_split.items()
    }


def split_table(splits: Mapping[str, Split], negative: str, positive: str) -> pd.DataFrame:
    """Return a table of negatives, positives, total and positive share per split."""
    rows = [
        {
            "split": name,
            negative: len(s) - s.positives,
            positive: s.positives,
            "total": len(s),
            "positive share": round(s.positives / len(s), 3) if len(s) else float("nan"),
        }
        for name, s in splits.items()
    ]
    return pd.DataFrame(rows).set_index("split")


# --------------------------------------------------------------------------- pipeline


DCT_RATIOS = (1, 2, 4, 8)  # the scales libjpeg can decode at directly (1/1, 1/2, 1/4, 1/8)
MAX_PIXELS = 100_000_000  # larger images are skipped: decoding one would take gigabytes
JPEG_MAGIC = b"\xff\xd8\xff"
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # start of frame


@dataclass(frozen=True)
class DecodePlan:
    """How one file is decoded: libjpeg's DCT scale (1 = full size) and the resize method to the target size."""

    ratio: int = 1
    method: str = "bilinear"  # "area" (a box filter) when both sides shrink, else antialiased bilinear


def jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Return (height, width) from a JPEG's start-of-frame header, or None when these bytes do not reach it."""
    import struct

    i = 2
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return height, width
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
        else:
            i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def decode_plan(height: int, width: int, image_size: int, is_jpeg: bool) -> DecodePlan:
    """Pick the smallest DCT scale whose shorter side stays at least image_size (JPEG only), and the resize method."""
    ratio = max(r for r in DCT_RATIOS if r == 1 or (is_jpeg and min(height, width) >= r * image_size))
    shrinks = min(-(-height // ratio), -(-width // ratio)) >= image_size
    return DecodePlan(ratio, "area" if shrinks else "bilinear")


def decode_image(path: Any, image_size: int, plan: DecodePlan = DecodePlan()) -> Any:
    """Read an image file and return it resized to image_size x image_size as uint8 RGB, decoded as the plan says.

    With plan.ratio > 1 (JPEG only) libjpeg decodes at 1/2, 1/4 or 1/8 scale, skipping most of the inverse DCT;
    the result matches full decoding within a few grey levels (tests/test_helpers.py states the bound).
    """
    import tensorflow as tf

    raw = tf.io.read_file(path)
    if plan.ratio > 1:
        img = tf.io.decode_jpeg(raw, channels=3, ratio=plan.ratio)
    else:
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
    img = tf.image.resize(img, (image_size, image_size), method=plan.method, antialias=plan.method == "bilinear")
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def _read_head(path: Path, size: int = 4096) -> bytes:
    """Read a file's first bytes (raises OSError when it cannot be read)."""
    with open(path, "rb") as f:
        return f.read(size)


def precheck_file(path: Path, image_size: int) -> DecodePlan | str:
    """Return how to decode a file, or why it cannot be used (empty, unreadable, too large).

    A JPEG's size comes from its own header; other formats are measured by Pillow without decoding them. A file
    Pillow cannot read either is left to TensorFlow, which names the error if it cannot decode it.
    """
    import warnings

    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        head = _read_head(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    is_jpeg = head.startswith(JPEG_MAGIC)
    size = jpeg_size(head) if is_jpeg else None
    if size is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    size = im.size[::-1]
        except Image.DecompressionBombError:
            return f"too large (over {MAX_PIXELS // 1_000_000} megapixels)"
        except Exception:  # noqa: BLE001 - Pillow cannot read it; TensorFlow may (JPEG XL), and names the error if not
            return DecodePlan()
    height, width = size
    if height * width > MAX_PIXELS:
        return f"too large ({width}x{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels)"
    return decode_plan(height, width, image_size, is_jpeg)


def decode_failure(path: Path, image_size: int, plan: DecodePlan = DecodePlan()) -> str:
    """Decode one file eagerly and return TensorFlow's reason for rejecting it, in plain words."""
    import tensorflow as tf

    try:
        decode_image(str(path), image_size, plan)
    except (tf.errors.OpError, ValueError) as exc:
        message = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        if "Unknown image file format" in message:
            return "not an image TensorFlow can decode (JPEG, PNG, GIF, BMP, WebP)"
        if "jpeg" in message.lower():
            return f"corrupt or truncated JPEG ({message})"
        return f"cannot be decoded ({message})"
    return "cannot be decoded"


def decode_files(
    paths: Sequence[Path],
    image_size: int,
    progress: Callable[[int, int], None] | None = None,
    plans: Sequence[DecodePlan] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Decode files in parallel; return the images of those that decoded (in order) and a reason for each that did not.

    Files that share a decode plan go through one pipeline with that plan fixed, so no per-image control flow
    runs in the graph. Images go straight into one preallocated uint8 array: the peak is one copy of the data.
    """
    import tensorflow as tf

    plans = list(plans) if plans is not None else [DecodePlan()] * len(paths)
    images = np.empty((len(paths), image_size, image_size, 3), np.uint8)
    decoded = np.zeros(len(paths), bool)
    pipelines = []
    for plan in sorted(set(plans), key=lambda p: (p.ratio, p.method)):
        index = [i for i, p in enumerate(plans) if p == plan]
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(index, np.int64), [str(paths[i]) for i in index]))
        decode = tf.autograph.experimental.do_not_convert(lambda i, p, plan=plan: (i, decode_image(p, image_size, plan)))
        pipelines.append(ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False))  # rows carry their index
    if pipelines:
        ds = functools.reduce(lambda a, b: a.concatenate(b), pipelines)
        for i, x in ds.ignore_errors().batch(256):  # a bad file is dropped here, never mid-epoch
            rows = i.numpy()
            images[rows], decoded[rows] = x.numpy(), True
            if progress:
                progress(int(decoded.sum()), len(paths))
    failed = np.flatnonzero(~decoded)
    if failed.size:  # close the gaps in place, keeping file order, without a second copy
        for target, source in enumerate(np.flatnonzero(decoded)):
            images[target] = images[source]
    return images[: len(paths) - failed.size], {int(i): decode_failure(paths[i], image_size, plans[i]) for i in failed}


@dataclass
class ImageCheck:
    """The data check: files found and usable per class, every skipped file with its reason, and the decoded images."""

    root: Path
    found: dict[str, int]
    usable: dict[str, list[Path]]
    skipped: list[tuple[Path, str]]
    images: np.ndarray
    rows: dict[str, int]
    source: str = "decoded"  # "decoded" from the files, or "cache" when read back from the image cache

    def table(self) -> pd.DataFrame:
        """Per class: files found, usable images, files skipped."""
        rows = [{"class": c, "files found": self.found[c], "usable images": len(self.usable[c]),
                 "skipped": self.found[c] - len(self.usable[c])} for c in self.usable]  # fmt: skip
        return pd.DataFrame(rows).set_index("class")

    def skipped_lines(self, limit: int | None = None) -> list[str]:
        """One line per skipped file: its path under the data root and the reason."""
        lines = [f"{os.path.relpath(p, self.root)}: {reason}" for p, reason in self.skipped]
        if limit is not None and len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more (`python data_tools.py check` lists them all)"]
        return lines

    def images_for(self, split: Split) -> np.ndarray:
        """The decoded images of a split's files, in split order."""
        if not len(split):
            return np.asarray(self.images[:0])
        return self.images[[self.rows[f] for f in split.files]]


IMAGE_CACHE_ENV = "UNBALANCED_IMAGE_CACHE"
CACHE_FORMAT = "3: JPEG DCT scale keeping the target size, area or antialiased bilinear resize, uint8"  # change it whenever decoding changes


def image_cache_dir() -> Path | None:
    """Where decoded images are cached: $UNBALANCED_IMAGE_CACHE, else data/cache/ in the project; None if set to 'off'."""
    value = os.environ.get(IMAGE_CACHE_ENV, "").strip()
    if value.lower() in {"off", "none", "0", "false"}:
        return None
    return Path(value).expanduser() if value else PROJECT_ROOT / "data" / "cache"


def relative_names(root: Path, files: Sequence[Path]) -> list[str]:
    """Each file's path relative to the data root (string slicing for files listed under it, else os.path.relpath)."""
    prefix = "" if str(root) == "." else os.path.join(str(root), "")
    names = []
    for name in map(str, files):
        rest = name[len(prefix) :]
        names.append(rest if name.startswith(prefix) and not os.path.isabs(rest) else os.path.relpath(name, root))
    return names


def image_cache_entry(cache_dir: Path, root: Path, candidates: Sequence[tuple[str, Path]], image_size: int) -> Path:
    """The cache folder for these files at this size: one slot per data root and size, one entry per exact file list.

    The entry's name hashes every file's class, path, size, modification time and mode, the image size, the
    decoding method and the TensorFlow version, so adding, removing or changing any file selects a new entry.
    """
    import hashlib

    import tensorflow as tf

    slot = hashlib.sha256(f"{root.resolve()}\0{image_size}".encode()).hexdigest()[:16]
    stamps: list[list[Any]] = []
    for (class_name, f), name in zip(candidates, relative_names(root, [f for _, f in candidates])):
        try:
            st = os.stat(f)
            stamps.append([class_name, name, st.st_size, st.st_mtime_ns, st.st_mode])
        except OSError:
            stamps.append([class_name, name, None])
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, tf.__version__, str(root.resolve()), image_size, stamps]).encode())
    return cache_dir / f"{root.name or 'root'}-{image_size}px-{slot}" / key.hexdigest()[:32]


def load_cached_images(entry: Path, root: Path, candidates: Sequence[tuple[str, Path]]) -> tuple[np.ndarray, list[Any]] | None:
    """Read a cache entry back (images memory-mapped): the images and, per candidate file, its row or skip reason."""
    import shutil

    if not entry.is_dir():
        return None
    try:
        index = json.loads((entry / "index.json").read_text(encoding="utf-8"))
        images = np.load(entry / "images.npy", mmap_mode="r")
        files = relative_names(root, [f for _, f in candidates])
        if index["format"] == CACHE_FORMAT and index["files"] == files and len(images) == index["count"]:
            return images, index["outcomes"]
    except FileNotFoundError:
        return None  # removed by another process a moment ago: decode instead
    except (OSError, ValueError, KeyError, TypeError):
        pass
    shutil.rmtree(entry, ignore_errors=True)  # damaged by hand or by the disk (entries are published whole): rebuild it
    return None


def _write_synced(path: Path, write: Callable[[Any], None]) -> None:
    """Write a file through `write(f)` and flush it to disk."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def save_cached_images(entry: Path, root: Path, candidates: Sequence[tuple[str, Path]], images: np.ndarray, outcomes: Sequence[Any]) -> None:
    """Publish a cache entry atomically: build it in a private temporary folder, then rename it into place.

    Readers only ever see a complete entry. When two processes build the same entry at once, the first rename
    wins and the other process drops its copy. Older entries of the same data root and size are removed.
    """
    import shutil
    import tempfile
    import time

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".building-{entry.name}-", dir=entry.parent))
    try:
        index = {"format": CACHE_FORMAT, "root": str(root.resolve()), "count": len(images),
                 "files": relative_names(root, [f for _, f in candidates]), "outcomes": list(outcomes)}  # fmt: skip
        _write_synced(tmp / "images.npy", lambda f: np.save(f, images))
        _write_synced(tmp / "index.json", lambda f: f.write(json.dumps(index).encode()))
        try:
            os.rename(tmp, entry)
        except OSError:
            if not (entry / "index.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # still there only when another process published first
    for other in entry.parent.iterdir():
        stale_build = other.name.startswith(".building-") and time.time() - other.stat().st_mtime > 24 * 3600
        if other != entry and (stale_build or not other.name.startswith(".")):
            shutil.rmtree(other, ignore_errors=True)


_cache_writers: list[Any] = []  # threads of this process still publishing cache entries


def write_cache_in_background(entry: Path, root: Path, candidates: Sequence[tuple[str, Path]], images: np.ndarray, outcomes: Sequence[Any]) -> None:
    """Publish a cache entry from a background thread, so that training need not wait for the disk.

    The thread is not a daemon: the interpreter finishes the write before it exits. A write that fails costs the
    next run a decode, never this run's images; it prints a warning that names the folder.
    """
    import threading

    def write() -> None:
        try:
            save_cached_images(entry, root, candidates, images, outcomes)
        except OSError as exc:
            print(f"warning: image cache not written to {entry.parent} ({exc}); set {IMAGE_CACHE_ENV} to a writable folder")

    thread = threading.Thread(target=write, name=f"image-cache-writer-{entry.name[:8]}")
    thread.start()
    _cache_writers.append(thread)


def wait_for_cache_writes() -> None:
    """Wait until every cache entry this process started writing is published (or has failed)."""
    while _cache_writers:
        _cache_writers.pop().join()


class _Progress:
    """Print 'decoding images: n of N' every few seconds while a long decode runs."""

    def __init__(self, every_s: float = 10.0) -> None:
        import time

        self.every_s, self.clock = every_s, time.monotonic
        self.last = self.clock()

    def __call__(self, done: int, total: int) -> None:
        if self.clock() - self.last >= self.every_s:
            self.last = self.clock()
            print(f"decoding images: {done:,} of {total:,}", flush=True)


def decode_candidates(candidates: Sequence[tuple[str, Path]], image_size: int, verbose: bool = False) -> tuple[np.ndarray, list[Any]]:
    """Pre-check and decode candidate files; return the images and, per candidate, its image row or why it was skipped."""
    outcomes: list[Any] = [precheck_file(f, image_size) for _, f in candidates]
    to_decode = [i for i, plan in enumerate(outcomes) if isinstance(plan, DecodePlan)]
    paths, plans = [candidates[i][1] for i in to_decode], [outcomes[i] for i in to_decode]
    images, failures = decode_files(paths, image_size, _Progress() if verbose else None, plans)
    row = 0
    for k, i in enumerate(to_decode):
        if k in failures:
            outcomes[i] = failures[k]
        else:
            outcomes[i], row = row, row + 1
    return images, outcomes


def check_images(
    data_root: str | os.PathLike[str], image_size: int, classes: Sequence[str] | None = None, verbose: bool = False
) -> ImageCheck:
    """Find every file of the two classes, decode each once (or read them from the image cache), keep the usable ones.

    After a decode the cache entry is written in the background (`write_cache_in_background`); training need not wait.

    Unusable files are reported with their reasons. With verbose, prints progress and where the images came from.
    """
    import time

    start = time.perf_counter()
    wait_for_cache_writes()  # an entry this process is still writing is read back, not decoded again
    root = Path(data_root)
    found: dict[str, int] = {}
    skipped: list[tuple[Path, str]] = []
    candidates: list[tuple[str, Path]] = []
    for folder in list_class_folders(root, classes):
        files, passed = list_files(folder)
        found[folder.name] = len(files) + sum(1 for p, _ in passed if not p.is_dir())
        skipped += passed
        candidates += [(folder.name, f) for f in files]
    cache_dir = image_cache_dir()
    entry = image_cache_entry(cache_dir, root, candidates, image_size) if cache_dir else None
    cached = load_cached_images(entry, root, candidates) if entry else None
    source = "cache" if cached else "decoded"
    images, outcomes = cached or decode_candidates(candidates, image_size, verbose)
    if entry and not cached:
        write_cache_in_background(entry, root, candidates, images, outcomes)
    usable: dict[str, list[Path]] = {name: [] for name in found}
    rows: dict[str, int] = {}
    for (class_name, f), outcome in zip(candidates, outcomes):
        if isinstance(outcome, str):
            skipped.append((f, outcome))
        else:
            rows[str(f)] = outcome
            usable[class_name].append(f)
    if verbose:
        how = "loaded from the image cache" if cached else "decoded"
        where = f" ({entry.parent})" if entry else " (image cache off)"
        print(f"images: {len(rows):,} {how} in {time.perf_counter() - start:.1f} s{where}")
    empty = [c for c, fs in usable.items() if not fs]
    if empty:
        raise DataError(f"class folder(s) {', '.join(empty)} under {root / 'train'} hold no usable images "
                        f"({len(skipped)} files skipped; run `python data_tools.py check {root}` for the list)")  # fmt: skip
    return ImageCheck(root, found, usable, sorted(skipped, key=lambda x: str(x[0])), images, rows, source)


def _scale(x: Any, y: Any) -> tuple[Any, Any]:
    """Turn uint8 pixels into float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 255.0, y


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0) -> Any:
    """Build a tf.data pipeline over decoded images: optionally reshuffled every epoch, batched, scaled, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.float32)))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)  # scale whole batches


def undersample(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep every positive and an equal number of randomly chosen negatives."""
    labels = np.asarray(labels)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    keep_neg = np.random.default_rng(seed).choice(neg, size=min(len(pos), len(neg)), replace=False)
    keep = np.sort(np.concatenate([pos, keep_neg]))
    return images[keep], labels[keep]


def augmentation(seed: int) -> Any:
    """Return seeded Keras preprocessing layers for mild, label-preserving augmentation."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.08, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
        ],
        name="augment",
    )


def make_resampled_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    positive_fraction: float = 0.5,
    augment_positives: bool = False,
) -> tuple[Any, int]:
    """Oversample: one shuffled, repeated dataset per class mixed with explicit weights; return it and steps per epoch."""
    import tensorflow as tf

    labels = np.asarray(labels)
    per_class = []
    for label in (0, 1):
        x = images[labels == label]
        ds = tf.data.Dataset.from_tensor_slices((x, np.full(len(x), label, np.float32)))
        ds = ds.shuffle(len(x), seed=seed + label, reshuffle_each_iteration=True).repeat().map(_scale)
        if label == 1 and augment_positives:
            layer = augmentation(seed)
            ds = ds.map(lambda x, y: (layer(x, training=True), y))  # after the decode, so no image is decoded again
        per_class.append(ds)
    mixed = tf.data.Dataset.sample_from_datasets(
        per_class, weights=[1.0 - positive_fraction, positive_fraction], seed=seed, rerandomize_each_iteration=True
    )
    steps = math.ceil(2 * int((labels == 0).sum()) / batch_size)  # an epoch shows about as many negatives as there are
    return mixed.batch(batch_size).prefetch(tf.data.AUTOTUNE), steps


def positive_share(ds: Any, steps: int) -> tuple[float, int]:
    """Return the share of positive labels and the number of images in the first `steps` batches of a dataset."""
    labels = np.concatenate([y.numpy() for _, y in ds.take(steps)])
    return float(labels.mean()), len(labels)


@dataclass
class Data:
    """Everything an experiment needs about its data: the check, the classes, the splits and their decoded images."""

    check: ImageCheck
    negative: str
    positive: str
    splits: dict[str, Split]
    images: dict[str, np.ndarray]

    @property
    def root(self) -> Path:
        """The data root."""
        return self.check.root

    @property
    def files_by_class(self) -> dict[str, list[Path]]:
        """The usable image files of each class."""
        return self.check.usable

    @property
    def classes(self) -> list[str]:
        """[negative, positive] class names (label 0, label 1)."""
        return [self.negative, self.positive]


def prepare_data(
    data_root: str,
    positive_class: str,
    negative_split_counts: Sequence[int],
    positive_split_counts: Sequence[int],
    split_seed: int,
    image_size: int,
    classes: Sequence[str] | None = None,
) -> Data:
    """Check and decode every file once, name the classes, cut the splits from the usable images, and report."""
    root = data_root_or_demo(data_root)
    check = check_images(root, image_size, classes, verbose=True)
    negative, positive = class_roles(list(check.usable), positive_class)
    counts = {negative: negative_split_counts, positive: positive_split_counts}
    splits = split_files(check.usable, counts, positive, seed=split_seed)
    print(f"data: {data_root or 'built-in synthetic demo data'}; positive (rare) class {positive!r}, negative {negative!r}")
    print(check.table().to_string())
    if check.skipped:
        print(f"skipped {len(check.skipped)} file(s):", *check.skipped_lines(limit=20), sep="\n  ")
    return Data(check, negative, positive, splits, {name: check.images_for(split) for name, split in splits.items()})


# --------------------------------------------------------------------------- model


def build_cnn(image_size: int, output_bias: float | None = None) -> Any:
    """Build the original post's 3-conv CNN (32/64/128 filters, dropout 0.15/0.15/0.4, dense 64, sigmoid)."""
    import keras
    from keras import layers

    bias = keras.initializers.Constant(output_bias) if output_bias is not None else "zeros"
    conv = dict(kernel_size=(3, 3), padding="same", kernel_initializer="he_uniform", activation="relu")
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            layers.Conv2D(32, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15),
            layers.Conv2D(64, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Dropout(0.15),
            layers.Conv2D(128, **conv),
            layers.MaxPool2D((2, 2)),
            layers.Flatten(),
            layers.Dense(64, activation="relu", kernel_initializer="he_uniform"),
            layers.Dropout(0.4),
            layers.Dense(1, activation="sigmoid", bias_initializer=bias),
        ],
        name="cnn",
    )


def initial_bias(labels: np.ndarray) -> float:
    """Return b0 = ln(pos/neg), the output bias that makes the untrained model predict the training prior."""
    pos = int(np.sum(labels))
    return math.log(pos / (len(labels) - pos))


def class_weights(labels: np.ndarray, positive_weight: float | str) -> dict[int, float]:
    """Return Keras class weights: {0: 1, 1: w}, or for "balanced" total / (2 * count) for each class."""
    labels = np.asarray(labels)
    if positive_weight == "balanced":
        total = len(labels)
        return {c: total / (2 * int((labels == c).sum())) for c in (0, 1)}
    if isinstance(positive_weight, str) or float(positive_weight) <= 0:
        raise ValueError(f"positive_weight must be a positive number or 'balanced', got {positive_weight!r}")
    return {0: 1.0, 1: float(positive_weight)}


def training_metrics() -> list[Any]:
    """Return the metrics tracked during training: counts, accuracy, precision, recall, ROC-AUC and PR-AUC."""
    from keras import metrics

    return [
        metrics.TruePositives(name="tp"),
        metrics.FalsePositives(name="fp"),
        metrics.TrueNegatives(name="tn"),
        metrics.FalseNegatives(name="fn"),
        metrics.BinaryAccuracy(name="accuracy"),
        metrics.Precision(name="precision"),
        metrics.Recall(name="recall"),
        metrics.AUC(name="roc_auc", curve="ROC"),
        metrics.AUC(name="pr_auc", curve="PR"),
    ]


def compile_model(model: Any, loss: Any = "binary_crossentropy", learning_rate: float = 1e-3) -> Any:
    """Compile `model` with Adam, the given loss and the training metrics; return it."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=training_metrics())
    return model


_COMPILED_MODELS: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}


def initialised_model(image_size: int, variant: Variant) -> Any:
    """Return the compiled CNN in exactly the state a fresh build under the current seed has, reusing traced functions.

    Keras traces a new model's training, validation and prediction steps on first use (about 3 s here, more than an
    epoch of the series' models). So one compiled model per (image size, output bias, loss) is kept, and each call
    builds a fresh model only to copy its variables (weights and dropout seeds) into it and resets the optimizer:
    training is then bit-identical to a freshly compiled model's (tests/test_helpers.py checks it).
    """
    fresh = build_cnn(image_size, variant.output_bias)  # draws the initial weights and dropout seeds from the current seed
    key = (image_size, variant.output_bias, variant.focal)
    if key not in _COMPILED_MODELS:
        model = compile_model(fresh, loss=variant_loss(variant))
        model.optimizer.build(model.trainable_variables)
        _COMPILED_MODELS[key] = (model, [v.numpy() for v in model.optimizer.variables])
        return model
    model, optimizer_start = _COMPILED_MODELS[key]
    for target, source in zip(model.variables, fresh.variables, strict=True):
        target.assign(source)
    for variable, value in zip(model.optimizer.variables, optimizer_start, strict=True):
        variable.assign(value)
    return model


# --------------------------------------------------------------------------- train


@dataclass(frozen=True)
class Variant:
    """One way of training the CNN: which training split, how it is resampled, weighted, initialised and scored."""

    name: str
    train_split: str = "train_unbalanced"
    sampling: str = "none"  # "none", "oversample" or "undersample"
    augment_positives: bool = False
    class_weight: Mapping[int, float] | None = None
    output_bias: float | None = None
    focal: tuple[float, float] | None = None  # (alpha, gamma) for binary focal cross-entropy


@dataclass
class ModelRun:
    """One trained model (a variant under one seed): its validation and test scores and its history."""

    model: str
    seed: int
    val_scores: np.ndarray
    test_scores: np.ndarray
    history: dict[str, list[float]]
    best_epoch: int


def variant_loss(variant: Variant) -> Any:
    """Return the loss of a variant: binary cross-entropy, or focal loss with its alpha and gamma."""
    import keras

    if variant.focal is None:
        return "binary_crossentropy"
    alpha, gamma = variant.focal
    return keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha, gamma=gamma)


def training_data(variant: Variant, images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int) -> tuple[Any, int | None]:
    """Return a variant's training dataset and its steps per epoch (None: one pass over the data)."""
    if variant.sampling == "oversample":
        return make_resampled_dataset(images, labels, batch_size, seed, augment_positives=variant.augment_positives)
    if variant.sampling == "undersample":
        images, labels = undersample(images, labels, seed)
    elif variant.sampling != "none":
        raise ValueError(f"unknown sampling {variant.sampling!r}; use 'none', 'oversample' or 'undersample'")
    return make_dataset(images, labels, batch_size, shuffle=True, seed=seed), None


def train_model(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    max_epochs: int,
    patience: int = 0,
    steps_per_epoch: int | None = None,
    class_weight: Mapping[int, float] | None = None,
    verbose: int = 2,
) -> tuple[dict[str, list[float]], int]:
    """Fit `model`, with early stopping on validation PR-AUC when patience > 0; return history and best epoch (1-based)."""
    import keras

    callbacks = []
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_pr_auc", mode="max", patience=patience, restore_best_weights=True)
        )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=max_epochs,
        steps_per_epoch=steps_per_epoch,
        class_weight=dict(class_weight) if class_weight else None,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles each epoch itself
        verbose=verbose,
    )
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    best = int(np.argmax(hist["val_pr_auc"])) + 1 if patience > 0 else len(hist["loss"])
    return hist, best


def train_variant(
    variant: Variant,
    seed: int,
    images: Mapping[str, np.ndarray],
    splits: Mapping[str, Split],
    batch_size: int,
    max_epochs: int,
    patience: int,
    verbose: int = 2,
) -> ModelRun:
    """Train one variant under one seed from the seed's initial weights; score validation and test sets."""
    seed_everything(seed)  # same seed -> same initial weights for every variant
    image_size = images["val"].shape[1]
    model = initialised_model(image_size, variant)
    train_ds, steps = training_data(variant, images[variant.train_split], splits[variant.train_split].labels, batch_size, seed)
    val_ds = make_dataset(images["val"], splits["val"].labels, batch_size)
    history, best = train_model(model, train_ds, val_ds, max_epochs, patience, steps, variant.class_weight, verbose)
    test_ds = make_dataset(images["test"], splits["test"].labels, batch_size)
    return ModelRun(variant.name, seed, predict_scores(model, val_ds), predict_scores(model, test_ds), history, best)


def run_variants(
    variants: Sequence[Variant],
    seeds: Sequence[int],
    images: Mapping[str, np.ndarray],
    splits: Mapping[str, Split],
    batch_size: int,
    max_epochs: int,
    patience: int,
    verbose: int = 2,
) -> list[ModelRun]:
    """Train every variant once per seed, printing progress; return the runs in (seed, variant) order."""
    runs, total = [], len(variants) * len(seeds)
    for seed in seeds:
        for variant in variants:
            print(f"--- model {len(runs) + 1}/{total}: {variant.name}, seed {seed}", flush=True)
            runs.append(train_variant(variant, seed, images, splits, batch_size, max_epochs, patience, verbose))
            print(f"    best epoch {runs[-1].best_epoch} of {len(runs[-1].history['loss'])}", flush=True)
    return runs


# --------------------------------------------------------------------------- evaluate


def predict_scores(model: Any, ds: Any) -> np.ndarray:
    """Return the model's positive-class probabilities for an unshuffled dataset, in dataset order."""
    return np.asarray(model.predict(ds, verbose=0), dtype=np.float64).reshape(-1)


def evaluation_row(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Compute counts and scikit-learn metrics for one model's scores at `threshold`."""
    from sklearn import metrics as skm

    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "TP": int(tp),
        "FP": int(fp),
        "TN": int(tn),
        "FN": int(fn),
        "accuracy": skm.accuracy_score(labels, predicted),
        "precision": skm.precision_score(labels, predicted, zero_division=0),
        "recall": skm.recall_score(labels, predicted, zero_division=0),
        "F1": skm.f1_score(labels, predicted, zero_division=0),
        "balanced accuracy": skm.balanced_accuracy_score(labels, predicted),
        "ROC-AUC": skm.roc_auc_score(labels, scores) if both_classes else float("nan"),
        "PR-AUC": skm.average_precision_score(labels, scores) if both_classes else float("nan"),
    }


def threshold_best_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    """Return the score threshold (predict positive at >= threshold) with the highest F1 on these labels."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def threshold_for_recall(labels: np.ndarray, scores: np.ndarray, target_recall: float) -> float:
    """Lower the threshold from the top score until recall reaches `target_recall`; return that threshold."""
    from sklearn.metrics import precision_recall_curve

    _, recall, thresholds = precision_recall_curve(labels, scores)
    reaching = np.flatnonzero(recall[:-1] >= target_recall)  # thresholds ascend, recall descends
    return float(thresholds[reaching[-1]])


def prior_shift_threshold(train_prior: float, target_prior: float = 0.5) -> float:
    """Threshold on a model trained at positive prior `train_prior` equal to 0.5 after correcting to `target_prior`."""
    a = train_prior * (1.0 - target_prior)
    return a / (a + target_prior * (1.0 - train_prior))


THRESHOLD_RULES = ("0.5", "tuned")  # tuned: the best-F1 threshold on the validation set


def run_metrics(
    runs: Sequence[ModelRun],
    val_labels: np.ndarray,
    test_labels: np.ndarray,
    extra_rules: Mapping[str, Callable[[ModelRun], float]] | None = None,
) -> pd.DataFrame:
    """Return one row per (model, seed, threshold rule) of test metrics; 'tuned' is the best-F1 threshold on validation."""
    rows = []
    for run in runs:
        thresholds = {"0.5": 0.5, "tuned": threshold_best_f1(val_labels, run.val_scores)}
        thresholds.update({name: rule(run) for name, rule in (extra_rules or {}).items()})
        for rule, t in thresholds.items():
            rows.append({"model": run.model, "seed": run.seed, "rule": rule, "threshold": t,
                         **evaluation_row(test_labels, run.test_scores, t)})  # fmt: skip
    return pd.DataFrame(rows)


def rule_table(metrics: pd.DataFrame, columns: Sequence[str] = ("threshold", "precision", "recall", "F1", "balanced accuracy")) -> pd.DataFrame:
    """Summarise test metrics per threshold rule as 'mean ± sd' over seeds."""
    grouped = metrics.groupby("rule", sort=False)
    table = pd.DataFrame({c: grouped[c].mean().map("{:.3f}".format) + " ± " + grouped[c].std(ddof=1).fillna(0.0).map("{:.3f}".format)
                          for c in columns})  # fmt: skip
    table.insert(0, "seeds", grouped["seed"].nunique())
    return table


SUMMARY_METRICS = ("PR-AUC", "ROC-AUC", "recall", "precision", "F1", "balanced accuracy")


def mean_std_table(metrics: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Summarise per-seed metrics as 'mean ± sd' per model: threshold-free metrics once, the others per threshold rule."""
    columns: dict[str, pd.Series] = {}
    grouped = metrics.groupby("model", sort=False)
    fmt = lambda g, col: f"{g[col].mean():.{digits}f} ± {g[col].std(ddof=1) if len(g) > 1 else 0.0:.{digits}f}"  # noqa: E731
    first = metrics[metrics["rule"] == "0.5"].groupby("model", sort=False)
    for col in ("PR-AUC", "ROC-AUC"):
        columns[col] = first.apply(lambda g, c=col: fmt(g, c), include_groups=False)
    for rule in THRESHOLD_RULES:
        sub = metrics[metrics["rule"] == rule].groupby("model", sort=False)
        for col in SUMMARY_METRICS[2:]:
            columns[f"{col} @{rule}"] = sub.apply(lambda g, c=col: fmt(g, c), include_groups=False)
    table = pd.DataFrame(columns)
    table.insert(0, "seeds", grouped["seed"].nunique())
    return table.reindex(list(dict.fromkeys(metrics["model"])))


def spread_verdict(metrics: pd.DataFrame, metric: str = "PR-AUC", reference: str | None = None) -> list[str]:
    """Say, for each model against the reference (default: the best by mean), whether the gap exceeds the seed spread."""
    per_model = metrics[metrics["rule"] == "0.5"].groupby("model", sort=False)[metric]
    mean, sd = per_model.mean(), per_model.std(ddof=1).fillna(0.0)
    reference = reference or str(mean.idxmax())
    lines = [f"Reference: {reference}, {metric} {mean[reference]:.3f} ± {sd[reference]:.3f} over {per_model.size()[reference]} seed(s)."]
    for model in mean.sort_values(ascending=False).index:
        if model == reference:
            continue
        gap = mean[model] - mean[reference]
        larger = abs(gap) > sd[model] + sd[reference]
        verdict = "larger than the seed-to-seed spread" if larger else "within the seed-to-seed spread"
        lines.append(f"{model}: {gap:+.3f} against {reference}, {verdict}.")
    return lines


def fast_roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC from the rank sum of the positives (ties share ranks); equals sklearn's roc_auc_score."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fast_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision over distinct thresholds; equals sklearn's average_precision_score."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, y = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1 - y)[last_of_tie]
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: str = "PR-AUC",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Return metric(a) - metric(b) on the test set and its 95% paired, class-stratified bootstrap interval."""
    fn = {"PR-AUC": fast_average_precision, "ROC-AUC": fast_roc_auc}[metric]
    labels = np.asarray(labels).astype(int)
    a, b = np.asarray(scores_a), np.asarray(scores_b)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])  # both classes in every resample
        diffs[i] = fn(labels[idx], a[idx]) - fn(labels[idx], b[idx])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(fn(labels, a) - fn(labels, b)), float(low), float(high)


def describe_difference(name_a: str, name_b: str, diff: float, low: float, high: float, metric: str = "PR-AUC") -> str:
    """Say in one sentence whether a paired difference is larger than test-set noise."""
    verdict = (
        "larger than test-set noise (the 95% interval excludes 0)"
        if low > 0 or high < 0
        else "within test-set noise (the 95% interval includes 0)"
    )
    return f"{metric} {name_a} − {name_b}: {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f}), {verdict}."


# --------------------------------------------------------------------------- plot


def plot_confusion_matrix(
    labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str], title: str, threshold: float = 0.5, ax: Any = None
) -> Any:
    """Draw the confusion matrix at `threshold` as a seaborn heatmap (rows: truth, columns: prediction)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    cm = confusion_matrix(np.asarray(labels).astype(int), (np.asarray(scores) >= threshold).astype(int), labels=[0, 1])
    sns.heatmap(cm, annot=True, fmt="d", cmap="rocket_r", cbar=False, ax=ax, xticklabels=class_names, yticklabels=class_names)
    ax.set(title=f"{title} @ {threshold:.2f}", xlabel="predicted", ylabel="truth")
    return ax


def plot_sample_grid(files_by_class: Mapping[str, Sequence[Path]], per_class: int = 6, seed: int = 0) -> Any:
    """Show `per_class` randomly chosen images of each class, one row per class."""
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(files_by_class), per_class, figsize=(1.6 * per_class, 1.8 * len(files_by_class)), squeeze=False)
    for row, (name, files) in zip(axes, files_by_class.items()):
        picks = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        for ax, i in zip(row, picks):
            with Image.open(files[i]) as im:
                ax.imshow(im.convert("RGB"))
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_augmented(image: np.ndarray, seed: int, copies: int = 6) -> Any:
    """Show one image and `copies` augmented versions of it, as the oversampled minority sees them."""
    import matplotlib.pyplot as plt

    layer = augmentation(seed)
    fig, axes = plt.subplots(1, copies + 1, figsize=(1.6 * (copies + 1), 1.9))
    x = image.astype(np.float32)[None] / 255.0
    for i, ax in enumerate(axes):
        shown = x[0] if i == 0 else np.asarray(layer(x, training=True))[0]
        ax.imshow(np.clip(shown, 0, 1))
        ax.set(xticks=[], yticks=[], title="original" if i == 0 else f"copy {i}")
    fig.tight_layout()
    return fig


def plot_training_curves(runs: Sequence[ModelRun], title: str) -> Any:
    """Plot loss and PR-AUC per epoch, train (solid) vs validation (dashed), one colour per seed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for i, run in enumerate(runs):
        epochs = np.arange(1, len(run.history["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "pr_auc")):
            ax.plot(epochs, run.history[key], color=f"C{i}", label=f"train, seed {run.seed}")
            ax.plot(epochs, run.history[f"val_{key}"], "--", color=f"C{i}", label=f"validation, seed {run.seed}")
        axes[1].plot(run.best_epoch, run.history["val_pr_auc"][run.best_epoch - 1], "o", color=f"C{i}")
    axes[0].set(title=f"{title}: loss", xlabel="epoch")
    axes[1].set(title=f"{title}: PR-AUC (dot: weights kept)", xlabel="epoch")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_score_curves(runs: Sequence[ModelRun], test_labels: np.ndarray) -> Any:
    """Overlay each model's PR and ROC curves on the test set, averaged over seeds on a common grid."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    grid = np.linspace(0, 1, 201)
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    by_model: dict[str, list[ModelRun]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    for i, (model, model_runs) in enumerate(by_model.items()):
        precisions, tprs = [], []
        for run in model_runs:
            p, r, _ = precision_recall_curve(test_labels, run.test_scores)  # recall runs from 1 down to 0
            interpolated = np.maximum.accumulate(p)  # the best precision at this recall or higher
            precisions.append(np.interp(grid, r[::-1], interpolated[::-1]))
            fpr, tpr, _ = roc_curve(test_labels, run.test_scores)
            tprs.append(np.interp(grid, fpr, tpr))
        style = dict(color=f"C{i % 10}", linestyle="-" if i < 10 else "--", label=model)
        ax_pr.plot(grid, np.mean(precisions, axis=0), **style)
        ax_roc.plot(grid, np.mean(tprs, axis=0), **style)
    base_rate = float(np.mean(test_labels))
    ax_pr.axhline(base_rate, color="grey", lw=0.8, ls=":", label=f"chance ({base_rate:.2f})")
    ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax_pr.set(title="Precision-recall (test, mean over seeds)", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    ax_roc.set(title="ROC (test, mean over seeds)", xlabel="false positive rate", ylabel="true positive rate")
    ax_pr.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_metric_bars(metrics: pd.DataFrame, columns: Sequence[tuple[str, str]] = (("PR-AUC", "0.5"), ("recall", "0.5"), ("recall", "tuned"))) -> Any:
    """Bar chart of mean ± sd over seeds per model for the given (metric, threshold rule) pairs."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(metrics["model"]))
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 0.35 * len(models) + 1.5), sharey=True)
    for ax, (metric, rule) in zip(np.atleast_1d(axes), columns):
        g = metrics[metrics["rule"] == rule].groupby("model", sort=False)[metric]
        mean, sd = g.mean().reindex(models), g.std(ddof=1).reindex(models).fillna(0.0)
        ax.barh(models, mean, xerr=sd, color=[f"C{i % 10}" for i in range(len(models))], capsize=3)
        ax.set(title=metric if metric in ("PR-AUC", "ROC-AUC") else f"{metric} @ {rule}", xlim=(0, 1))
    np.atleast_1d(axes)[0].invert_yaxis()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- record results


def _json_safe(value: Any) -> Any:
    """Convert NumPy/pandas scalars and arrays (recursively) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write `payload` as JSON to `path` through a temporary file and a rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(payload), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_results(
    output_dir: str | os.PathLike[str],
    experiment: str,
    parameters: Mapping[str, Any],
    splits: Mapping[str, Split],
    data_root: Path,
    classes: Sequence[str],
    runs: Sequence[ModelRun],
) -> Path:
    """Record an experiment's parameters, test files and labels, and every run's scores and history as JSON."""
    payload = {
        "experiment": experiment,
        "parameters": {k: v for k, v in parameters.items() if k != "output_dir"},  # the file's own folder: left out
        "classes": {"negative": classes[0], "positive": classes[1]},
        "val": {"labels": splits["val"].labels},
        "test": {"files": [Path(os.path.relpath(f, data_root)).as_posix() for f in splits["test"].files],
                 "labels": splits["test"].labels},  # fmt: skip
        "runs": [
            {"model": r.model, "seed": r.seed, "best_epoch": r.best_epoch, "history": r.history,
             "val_scores": np.round(r.val_scores, 6), "test_scores": np.round(r.test_scores, 6)}  # fmt: skip
            for r in runs
        ],
    }
    return write_json_atomic(resolve_path(output_dir) / RESULTS_DIRNAME / f"{experiment}.json", payload)


def load_results(output_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read every results file of a run folder, keyed by experiment name."""
    folder = resolve_path(output_dir) / RESULTS_DIRNAME
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist: run the experiment notebooks with output_dir={str(output_dir)!r} first")
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def runs_from_results(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[ModelRun], np.ndarray, np.ndarray]:
    """Collect every run of every experiment; check they share one validation and test set; return runs and labels."""
    runs: list[ModelRun] = []
    reference: tuple[str, Any] | None = None
    for name, result in results.items():
        key = (result["test"]["files"], result["val"]["labels"])
        if reference is None:
            reference = (name, key)
        elif key != reference[1]:
            raise DataError(f"results {name!r} and {reference[0]!r} were scored on different test or validation sets; "
                            "compare runs made with the same data root, split counts and split_seed")  # fmt: skip
        runs += [ModelRun(r["model"], r["seed"], np.asarray(r["val_scores"]), np.asarray(r["test_scores"]),
                          r["history"], r["best_epoch"]) for r in result["runs"]]  # fmt: skip
    if reference is None:
        raise DataError("no results files found: run the experiment notebooks first")
    first = next(iter(results.values()))
    return runs, np.asarray(first["val"]["labels"]), np.asarray(first["test"]["labels"])
