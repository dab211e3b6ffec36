"""Where the project's files live and how they are written: project paths, the data error, atomic writes, JSON."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DataError(ValueError):
    """Raised when the data root, a class folder or a split request cannot be used."""


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Return `path` as an absolute path; relative paths are taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def write_atomic(path: Path, write: Callable[[Any], None] | bytes | str, sync: bool = False) -> Path:
    """Write a file through a private temporary file renamed into place, so no reader ever sees half of it.

    `write` is the content (bytes or text) or a function that writes into the open binary file. With sync, the data
    reaches the disk before the rename (for files a crash must not leave empty, such as the image cache).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(write):
                write(f)
            else:
                f.write(write.encode("utf-8") if isinstance(write, str) else write)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and cache files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def json_safe(value: Any) -> Any:
    """Convert NumPy/pandas scalars and arrays, paths and NaN (recursively) into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> Path:
    """Write `payload` as indented, key-sorted JSON to `path` atomically."""
    return write_atomic(path, json.dumps(json_safe(payload), indent=1, sort_keys=True) + "\n")
