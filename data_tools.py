"""Data commands: check a data root before training, and arrange the Kaggle flat layout into class folders.

    python data_tools.py check ~/data/dogs-vs-cats               # per class: files found, usable, every skipped file
    python data_tools.py arrange-kaggle ~/Downloads/train ~/data/dogs-vs-cats          # links, your files untouched
    python data_tools.py arrange-kaggle ~/Downloads/train ~/data/dogs-vs-cats --copy   # copies instead
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from unbalanced.cache import IMAGE_CACHE_ENV, image_cache_dir
from unbalanced.check import check_images
from unbalanced.runtime import start_tensorflow
from unbalanced.storage import DataError


def check(data_root: str, image_size: int, classes: Sequence[str] | None, verbose: bool = False) -> int:
    """Print the data check for a data root; return 0 when both classes have usable images."""
    start_tensorflow(verbose=verbose)
    try:
        result = check_images(Path(data_root).expanduser(), image_size, classes, verbose=True)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.table().to_string())
    print(f"\n{len(result.skipped)} file(s) skipped" + (":" if result.skipped else ""))
    for line in result.skipped_lines(detail=verbose):
        print(f"  {line}")
    return 0


def cache(clear: bool) -> int:
    """Print where the image cache is and how big; with clear, remove it."""
    folder = image_cache_dir()
    if folder is None:
        print(f"the image cache is off ({IMAGE_CACHE_ENV}={os.environ.get(IMAGE_CACHE_ENV)})")
        return 0
    entries = [p for p in folder.glob("*/*") if p.is_dir()] if folder.is_dir() else []
    size = sum(f.stat().st_size for e in entries for f in e.iterdir())
    print(f"image cache: {folder} ({len(entries)} entries, {size / 1e6:.1f} MB)")
    if clear and folder.is_dir():
        shutil.rmtree(folder)
        print("cleared")
    return 0


def kaggle_class(path: Path, suffix: str) -> str | None:
    """Class folder for a Kaggle flat-layout file name such as cat.1.jpg (-> cats), or None when it has no prefix."""
    prefix, dot, _ = path.name.partition(".")
    return f"{prefix}{suffix}" if dot and prefix and not path.name.startswith(".") else None


def arrange_kaggle(source: Path, dest_root: Path, copy: bool = False, suffix: str = "s") -> dict[str, int]:
    """Link (or copy) `source/<class>.<n>.<ext>` into `dest_root/train/<class><suffix>/`; never move or delete a file."""
    source, dest_root = source.expanduser().resolve(), dest_root.expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"{source} is not a folder: pass the Kaggle train/ folder holding cat.1.jpg, dog.1.jpg, ...")
    if dest_root == source or source in dest_root.parents:
        raise DataError(f"choose a new data root outside {source}, so the source folder is left as it is")
    counts: dict[str, int] = {}
    for f in sorted(p for p in source.iterdir() if p.is_file()):
        name = kaggle_class(f, suffix)
        if name is None:
            continue
        target = dest_root / "train" / name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            raise DataError(f"{target} already exists; choose an empty data root")
        if copy:
            shutil.copy2(f, target)
        else:
            os.symlink(f, target)
        counts[name] = counts.get(name, 0) + 1
    if not counts:
        raise DataError(f"no files named <class>.<n>.<ext> in {source}")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the data commands."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="report usable and skipped files per class")
    p_check.add_argument("data_root")
    p_check.add_argument("--image-size", type=int, default=64)
    p_check.add_argument("--classes", nargs=2, metavar="CLASS", help="the two class folders to use")
    p_check.add_argument("--verbose", action="store_true", help="add TensorFlow's own message to each decoding failure")
    p_cache = sub.add_parser("cache", help=f"show where decoded images are cached (${IMAGE_CACHE_ENV}); --clear removes them")
    p_cache.add_argument("--clear", action="store_true", help="delete the whole image cache")
    p_arrange = sub.add_parser("arrange-kaggle", help="arrange train/cat.1.jpg ... into <dest>/train/cats/ ...")
    p_arrange.add_argument("source", help="the flat Kaggle train/ folder")
    p_arrange.add_argument("dest_root", help="a new data root to create")
    p_arrange.add_argument("--copy", action="store_true", help="copy the files instead of linking them")
    p_arrange.add_argument("--suffix", default="s", help="appended to each prefix to name its class folder (cat -> cats)")
    args = parser.parse_args(argv)
    if args.command == "cache":
        return cache(args.clear)
    if args.command == "check":
        return check(args.data_root, args.image_size, args.classes, args.verbose)
    try:
        counts = arrange_kaggle(Path(args.source), Path(args.dest_root), args.copy, args.suffix)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "copied" if args.copy else "linked"
    print(", ".join(f"{n} {name}" for name, n in counts.items()) + f" {verb} into {Path(args.dest_root) / 'train'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
