"""The bundled real photos: a small, checksummed archive of Kaggle cat and dog photos, the study's default data.

bundle/README.md says which photos it holds, how they were made and under what terms; `build_bundle` is the script
that made it (`python data_tools.py build-bundle <cats-vs-dogs-96px folder>`). The archive is unpacked once under
data/ and checked against its recorded SHA-256 every time it is used.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Callable, Sequence

from .storage import PROJECT_ROOT, DataError, write_atomic

BUNDLE_DIR = PROJECT_ROOT / "bundle"
BUNDLE_NAME = "cats-vs-dogs-64px"
BUNDLE_ZIP = BUNDLE_DIR / f"{BUNDLE_NAME}.zip"
BUNDLE_SHA256 = BUNDLE_DIR / f"{BUNDLE_NAME}.zip.sha256"
UNPACKED_ROOT = PROJECT_ROOT / "data" / BUNDLE_NAME
BUNDLE_SIZE = 64  # pixels, square
BUNDLE_QUALITY = 90  # JPEG quality
BUNDLE_COUNTS = {"cats": 6000, "dogs": 2000}  # the lowest-numbered photos of each class in the 96 px source
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same photos give the same archive, byte for byte


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_sha256() -> str:
    """The checksum recorded beside the archive when it was built."""
    return BUNDLE_SHA256.read_text(encoding="utf-8").split()[0]


def bundled_root(root: Path = UNPACKED_ROOT) -> Path:
    """Return the unpacked bundle's data root, unpacking the archive on first use; the archive's checksum is checked."""
    if not BUNDLE_ZIP.is_file() or not BUNDLE_SHA256.is_file():
        raise DataError(f"the bundled photos {BUNDLE_ZIP} are missing: restore them with `git checkout -- bundle/` "
                        "or pass your own data root")  # fmt: skip
    expected = recorded_sha256()
    actual = sha256_of(BUNDLE_ZIP)
    if actual != expected:
        raise DataError(f"{BUNDLE_ZIP} does not match its recorded checksum ({actual[:12]}… instead of {expected[:12]}…): "
                        "restore it with `git checkout -- bundle/`, or rebuild it with `python data_tools.py build-bundle`")  # fmt: skip
    marker = root / f".unpacked-{expected[:16]}"
    if not marker.exists():
        _unpack(root, marker.name)
    return root


def _unpack(root: Path, marker: str) -> None:
    """Unpack the archive into a private folder, then rename it into place: readers never see half of it."""
    import shutil
    import tempfile

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        with zipfile.ZipFile(BUNDLE_ZIP) as archive:
            archive.extractall(tmp)
        (tmp / marker).touch()
        if root.exists() and not (root / marker).exists():
            shutil.rmtree(root)  # an older bundle's photos
        try:
            tmp.rename(root)
        except OSError:
            if not (root / marker).exists():  # another process unpacked the same archive first: keep its copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bundle_members(source: Path) -> list[tuple[str, Path]]:
    """The source photos the bundle takes: per class, the lowest-numbered BUNDLE_COUNTS of <class>.<n>.jpg."""
    members = []
    for class_name, count in BUNDLE_COUNTS.items():
        folder = source / "train" / class_name
        numbered = sorted(folder.glob("*.*.jpg"), key=lambda p: int(p.name.split(".")[1]))
        if len(numbered) < count:
            raise DataError(f"{folder} holds {len(numbered)} photos named <class>.<n>.jpg; the bundle takes {count}")
        members += [(f"train/{class_name}/{p.name}", p) for p in numbered[:count]]
    return members


def small_jpeg(path: Path, size: int = BUNDLE_SIZE, quality: int = BUNDLE_QUALITY) -> bytes:
    """The photo scaled to size x size with a Lanczos filter and saved as a baseline JPEG."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def build_bundle(source: Path, progress: Callable[[int, int], None] | None = None) -> tuple[Path, str]:
    """Build the archive and its checksum file from the 96 px photos in `source`; return the archive and its SHA-256."""
    members: Sequence[tuple[str, Path]] = bundle_members(source)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # JPEGs do not compress further
        for i, (name, path) in enumerate(members, 1):
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), small_jpeg(path))
            if progress:
                progress(i, len(members))
    write_atomic(BUNDLE_ZIP, buffer.getvalue())
    digest = sha256_of(BUNDLE_ZIP)
    write_atomic(BUNDLE_SHA256, f"{digest}  {BUNDLE_ZIP.name}\n")
    return BUNDLE_ZIP, digest
