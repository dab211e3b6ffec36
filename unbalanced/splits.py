"""Cutting the usable files into disjoint training, validation and test splits, and the table that shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .storage import DataError

SPLIT_NAMES = ("train_balanced", "train_unbalanced", "val", "test")


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


def split_table(splits: Mapping[str, Split], negative: str, positive: str) -> Any:
    """Return a table (pandas DataFrame) of negatives, positives, total and positive share per split."""
    import pandas as pd

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
