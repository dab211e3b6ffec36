"""The image cache: decoded images of a data root at one size, kept on disk so later notebooks and runs skip decoding.

One folder per data root and image size; inside it, one entry per exact file list, named by a hash of every file's
class, path, size, modification time and mode, the image size, the decoding method and the TensorFlow version.
Entries are published whole (built in a private folder, then renamed), so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .files import relative_names
from .locks import Lock, acquire
from .storage import PROJECT_ROOT, write_atomic

IMAGE_CACHE_ENV = "UNBALANCED_IMAGE_CACHE"
CACHE_FORMAT = "4: JPEG DCT scale keeping the target size, area or antialiased bilinear resize, uint8"  # change it whenever decoding changes


def image_cache_dir() -> Path | None:
    """Where decoded images are cached: $UNBALANCED_IMAGE_CACHE, else data/cache/ in the project; None if set to 'off'."""
    value = os.environ.get(IMAGE_CACHE_ENV, "").strip()
    if value.lower() in {"off", "none", "0", "false"}:
        return None
    return Path(value).expanduser() if value else PROJECT_ROOT / "data" / "cache"


def image_cache_entry(cache_dir: Path, root: Path, candidates: Sequence[tuple[str, Path]], image_size: int) -> Path:
    """The cache folder for these files at this size: one slot per data root and size, one entry per exact file list."""
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


def save_cached_images(entry: Path, root: Path, candidates: Sequence[tuple[str, Path]], images: np.ndarray, outcomes: Sequence[Any]) -> None:
    """Publish a cache entry atomically: build it in a private temporary folder, then rename it into place.

    When two processes build the same entry at once, the first rename wins and the other process drops its copy.
    Older entries of the same data root and size are removed.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".building-{entry.name}-", dir=entry.parent))
    try:
        index = {"format": CACHE_FORMAT, "root": str(root.resolve()), "count": len(images),
                 "files": relative_names(root, [f for _, f in candidates]), "outcomes": list(outcomes)}  # fmt: skip
        write_atomic(tmp / "images.npy", lambda f: np.save(f, images), sync=True)
        write_atomic(tmp / "index.json", json.dumps(index), sync=True)
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


_cache_writers: list[threading.Thread] = []  # threads of this process still publishing cache entries


DECODE_WAIT_S = 3600.0  # how long a process waits for another that is decoding the same images


def claim_slot(entry: Path) -> Lock | None:
    """Own the cache slot of `entry` before decoding, so that processes sharing a cache decode the same images once:
    a second process waits here until the first has published, then reads its entry. None when the slot cannot be
    locked (an unwritable cache): then this process decodes on its own."""
    try:
        return acquire(entry.parent, "image cache", wait_s=DECODE_WAIT_S, say=lambda _: None)
    except OSError:
        return None


def write_cache_in_background(entry: Path, root: Path, candidates: Sequence[tuple[str, Path]], images: np.ndarray,
                              outcomes: Sequence[Any], lock: Lock | None = None) -> None:  # fmt: skip
    """Publish a cache entry from a background thread, so that training need not wait for the disk, then release the
    slot's lock.

    The thread is not a daemon: the interpreter finishes the write before it exits. A write that fails costs the
    next run a decode, never this run's images; it prints a warning that names the folder.
    """

    def write() -> None:
        try:
            save_cached_images(entry, root, candidates, images, outcomes)
        except OSError as exc:
            print(f"warning: image cache not written to {entry.parent} ({exc}); set {IMAGE_CACHE_ENV} to a writable folder")
        finally:
            if lock is not None:
                lock.release()

    thread = threading.Thread(target=write, name=f"image-cache-writer-{entry.name[:8]}")
    thread.start()
    _cache_writers.append(thread)


def wait_for_cache_writes() -> None:
    """Wait until every cache entry this process started writing is published (or has failed)."""
    while _cache_writers:
        _cache_writers.pop().join()
