"""The data check: every file of the two classes decoded once (or read from the image cache), the unusable ones named."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .cache import (
    claim_slot,
    image_cache_dir,
    image_cache_entry,
    load_cached_images,
    wait_for_cache_writes,
    write_cache_in_background,
)
from .decode import DecodePlan, decode_files, plain_reason, precheck_file
from .files import list_class_folders, list_files
from .storage import DataError


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

    def table(self) -> Any:
        """Per class: files found, usable images, files skipped (a pandas DataFrame)."""
        import pandas as pd

        rows = [{"class": c, "files found": self.found[c], "usable images": len(self.usable[c]),
                 "skipped": self.found[c] - len(self.usable[c])} for c in self.usable]  # fmt: skip
        return pd.DataFrame(rows).set_index("class")

    def skipped_lines(self, limit: int | None = None, detail: bool = False) -> list[str]:
        """One line per skipped file: its path under the data root and the reason (TensorFlow's text with detail)."""
        lines = [f"{os.path.relpath(p, self.root)}: {plain_reason(reason, detail)}" for p, reason in self.skipped]
        if limit is not None and len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more (`python data_tools.py check` lists them all)"]
        return lines

    def images_of(self, files: Sequence[str]) -> np.ndarray:
        """The decoded images of these files (as listed by the check), in the order given."""
        if not len(files):
            return np.asarray(self.images[:0])
        return self.images[[self.rows[f] for f in files]]


class Progress:
    """Print 'decoding images: n of N' every few seconds while a long decode runs."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s, self.last = every_s, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            print(f"decoding images: {done:,} of {total:,}", flush=True)


def decode_candidates(candidates: Sequence[tuple[str, Path]], image_size: int, verbose: bool = False) -> tuple[np.ndarray, list[Any]]:
    """Pre-check and decode candidate files; return the images and, per candidate, its image row or why it was skipped."""
    outcomes: list[Any] = [precheck_file(f, image_size) for _, f in candidates]
    to_decode = [i for i, plan in enumerate(outcomes) if isinstance(plan, DecodePlan)]
    paths, plans = [candidates[i][1] for i in to_decode], [outcomes[i] for i in to_decode]
    images, failures = decode_files(paths, image_size, Progress() if verbose else None, plans)
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
    lock = claim_slot(entry) if entry and not cached else None
    if lock is not None:
        cached = load_cached_images(entry, root, candidates)  # another process may have published while we waited
        if cached:
            lock.release()
    images, outcomes = cached or decode_candidates(candidates, image_size, verbose)
    if entry and not cached:
        write_cache_in_background(entry, root, candidates, images, outcomes, lock)
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
    return ImageCheck(root, found, usable, sorted(skipped, key=lambda x: str(x[0])), images, rows, "cache" if cached else "decoded")
