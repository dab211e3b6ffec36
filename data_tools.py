"""Data commands: check a data root before training, and arrange the Kaggle flat layout into class folders.

    python data_tools.py check ~/data/dogs-vs-cats               # per class: files found, usable, every skipped file
    python data_tools.py arrange-kaggle ~/Downloads/train ~/data/dogs-vs-cats          # links, your files untouched
    python data_tools.py arrange-kaggle ~/Downloads/train ~/data/dogs-vs-cats --copy   # copies instead
    python data_tools.py build-bundle ../shared/data/cats-vs-dogs-96px                 # maintainers: bundle/*.zip
    python data_tools.py disjoint-set ../shared/data/cats-vs-dogs-96px ~/data/other-photos   # photos not in the bundle
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Sequence

from unbalanced.bundle import BUNDLE_COUNTS, build_bundle, bundle_members
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


KAGGLE_NAME = re.compile(r"^(?P<cls>[A-Za-z][A-Za-z0-9_-]*)\.(?P<id>\d+)\.(?P<ext>jpe?g|png|gif|bmp|webp)$", re.IGNORECASE)
MIN_SHARE = 0.05  # a prefix becomes a class only with at least this share of the well-named files


def kaggle_plan(names: Sequence[str], classes: Sequence[str] | None = None, min_share: float = MIN_SHARE) -> tuple[dict[str, str], dict[str, str]]:
    """Which files of a flat Kaggle folder go to which class, and why each other file is skipped.

    A file is taken only if it is named <class>.<id>.<image extension> and its class is one the user named or, by
    default, one that at least `min_share` of the well-named files share; nothing becomes a class by accident. Class
    names are folded to lower case, so that Cat.3.JPG joins cat.1.jpg.
    """
    parsed = {n: m.group("cls").lower() for n in names if (m := KAGGLE_NAME.match(n))}  # Cat.3.JPG is a cat, not a class "Cat"
    counts = {c: list(parsed.values()).count(c) for c in dict.fromkeys(parsed.values())}
    if classes:
        keep = {c.lower() for c in classes}
    else:
        keep = {c for c, k in counts.items() if parsed and k / len(parsed) >= min_share}
    taken, skipped = {}, {}
    for n in names:
        if n.startswith("."):
            skipped[n] = "hidden file"
        elif n not in parsed:
            skipped[n] = "not named <class>.<id>.<image extension> (like cat.1.jpg)"
        elif parsed[n] in keep:
            taken[n] = parsed[n]
        elif classes:
            skipped[n] = f"class {parsed[n]!r} is not among --classes {' '.join(classes)}"
        else:
            skipped[n] = (f"class {parsed[n]!r} has only {counts[parsed[n]]} of {len(parsed)} files (under {min_share:.0%}); "
                          "name it with --classes to keep it")  # fmt: skip
    return taken, skipped


def arrange_kaggle(source: Path, dest_root: Path, copy: bool = False, suffix: str = "s", classes: Sequence[str] | None = None,
                   min_share: float = MIN_SHARE) -> tuple[dict[str, int], dict[str, str]]:  # fmt: skip
    """Link (or copy) `source/<class>.<id>.<ext>` into `dest_root/train/<class><suffix>/`; never move or change a source
    file. Returns the files per class folder and every skipped file with its reason."""
    source, dest_root = source.expanduser().resolve(), dest_root.expanduser().resolve()
    if not source.is_dir():
        raise DataError(f"{source} is not a folder: pass the Kaggle train/ folder holding cat.1.jpg, dog.1.jpg, ...")
    if dest_root == source or source in dest_root.parents:
        raise DataError(f"choose a new data root outside {source}, so the source folder is left as it is")
    files = sorted(p.name for p in source.iterdir() if p.is_file())
    taken, skipped = kaggle_plan(files, classes, min_share)
    missing = [c for c in classes or [] if c not in taken.values()]
    if missing:
        raise DataError(f"--classes {' '.join(missing)}: no files named {missing[0]}.<id>.<image extension> in {source}")
    if len(set(taken.values())) < 2:
        raise DataError(f"{source} holds {len(set(taken.values()))} class(es) named <class>.<id>.<image extension>; two are needed "
                        f"({len(skipped)} files skipped)")  # fmt: skip
    counts: dict[str, int] = {}
    for name, cls in taken.items():
        target = dest_root / "train" / f"{cls}{suffix}" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            raise DataError(f"{target} already exists; choose an empty data root")
        if copy:
            shutil.copy2(source / name, target)
        else:
            os.symlink(source / name, target)
        counts[target.parent.name] = counts.get(target.parent.name, 0) + 1
    return counts, skipped


def bundle(source: Path) -> int:
    """Build the bundled photos from the 96 px folder and print the archive's size and checksum."""
    def progress(done: int, total: int) -> None:
        if done % 1000 == 0 or done == total:
            print(f"  {done:,} of {total:,} photos", flush=True)

    try:
        archive, digest = build_bundle(source.expanduser(), progress)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{archive} ({archive.stat().st_size / 1e6:.1f} MB), sha256 {digest}")
    return 0


def disjoint_set(source: Path, dest_root: Path) -> int:
    """Link every photo of the source folder that the bundle does not hold into dest_root/train/<class>/."""
    source, dest_root = source.expanduser().resolve(), dest_root.expanduser().resolve()
    try:
        taken = {path.resolve() for _, path in bundle_members(source)}
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = {}
    for class_name in BUNDLE_COUNTS:
        target = dest_root / "train" / class_name
        target.mkdir(parents=True, exist_ok=True)
        others = [p for p in sorted((source / "train" / class_name).glob("*.jpg")) if p.resolve() not in taken]
        for p in others:
            link = target / p.name
            if not link.is_symlink():
                os.symlink(p, link)
        counts[class_name] = len(others)
    print(", ".join(f"{n:,} {c}" for c, n in counts.items()) + f" linked into {dest_root / 'train'} (none is in the bundle)")
    return 0


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
    p_arrange.add_argument("--classes", nargs="+", metavar="CLASS", help="take only these prefixes (default: every prefix with "
                           f"at least {MIN_SHARE:.0%} of the files)")
    p_arrange.add_argument("--min-share", type=float, default=MIN_SHARE, help="the share of files a prefix needs to become a class")
    p_bundle = sub.add_parser("build-bundle", help="build bundle/cats-vs-dogs-64px.zip from the 96 px photos (maintainers)")
    p_bundle.add_argument("source", help="the cats-vs-dogs-96px folder (holding train/cats, train/dogs)")
    p_disjoint = sub.add_parser("disjoint-set", help="link the 96 px photos that are not in the bundle into a new data root")
    p_disjoint.add_argument("source", help="the cats-vs-dogs-96px folder")
    p_disjoint.add_argument("dest_root", help="a new data root")
    args = parser.parse_args(argv)
    if args.command == "build-bundle":
        return bundle(Path(args.source))
    if args.command == "disjoint-set":
        return disjoint_set(Path(args.source), Path(args.dest_root))
    if args.command == "cache":
        return cache(args.clear)
    if args.command == "check":
        return check(args.data_root, args.image_size, args.classes, args.verbose)
    try:
        counts, skipped = arrange_kaggle(Path(args.source), Path(args.dest_root), args.copy, args.suffix, args.classes, args.min_share)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "copied" if args.copy else "linked"
    print(", ".join(f"{n:,} {name}" for name, n in counts.items()) + f" {verb} into {Path(args.dest_root) / 'train'}")
    if skipped:
        print(f"{len(skipped)} file(s) skipped, left where they are:")
        for name, reason in skipped.items():
            print(f"  {name}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
