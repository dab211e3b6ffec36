"""Finding the images: the data root's layout, its two class folders, every file in them, and which class is rare."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .bundle import bundled_root
from .storage import PROJECT_ROOT, DataError, resolve_path
from .synthetic import make_demo_dataset

DEMO_ROOT = PROJECT_ROOT / "data" / "demo"
DEMO = "demo"  # data_root value that selects the synthetic demo images (tests and quick checks, never the posts)

KAGGLE_FLAT_HINT = (
    "it looks like the Kaggle flat layout (train/cat.1.jpg, train/dog.1.jpg); arrange it into class folders with "
    "`python data_tools.py arrange-kaggle {train} <new data root>` (copies or links; your files stay where they are)"
)


def resolve_data_root(data_root: str) -> Path:
    """The folder a `data_root` parameter names: "" the bundled real photos, "demo" the synthetic images, else a path."""
    if not data_root:
        return bundled_root()
    if data_root == DEMO:
        return make_demo_dataset(DEMO_ROOT)
    return resolve_path(data_root)


def describe_data_root(data_root: str) -> str:
    """How the notebooks name the data: the bundled photos, the synthetic demo, or the folder."""
    if not data_root:
        return "the bundled Kaggle cat and dog photos (64 × 64, read at the image size below)"
    return "the synthetic demo images (coloured blobs, not photos)" if data_root == DEMO else data_root


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


def relative_names(root: Path, files: Sequence[Path]) -> list[str]:
    """Each file's path relative to the data root (string slicing for files listed under it, else os.path.relpath)."""
    prefix = "" if str(root) == "." else os.path.join(str(root), "")
    names = []
    for name in map(str, files):
        rest = name[len(prefix) :]
        names.append(rest if name.startswith(prefix) and not os.path.isabs(rest) else os.path.relpath(name, root))
    return names
