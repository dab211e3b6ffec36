"""Tests for unbalanced/cache.py: the on-disk image cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_images

import unbalanced.cache
from unbalanced.cache import IMAGE_CACHE_ENV, save_cached_images, wait_for_cache_writes
from unbalanced.check import check_images


def _entries(cache: Path, slot: str = "*") -> list[Path]:
    """The published entries of the cache's slots (not the slot's owner file, nor a half-built folder)."""
    return [p for p in cache.glob(f"{slot}/*") if not p.name.startswith(".")]


def test_second_check_reads_the_cache_and_returns_the_same_images(flat_root: Path, private_image_cache: Path):
    first = check_images(flat_root, 16)
    second = check_images(flat_root, 16)
    assert (first.source, second.source) == ("decoded", "cache")
    np.testing.assert_array_equal(first.images, second.images)
    wait_for_cache_writes()
    assert first.rows == second.rows and first.usable == second.usable
    entries = _entries(private_image_cache, f"{flat_root.name}-16px-*")
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {"images.npy", "index.json"}
    assert np.load(entries[0] / "images.npy").dtype == np.uint8
    assert check_images(flat_root, 12).source == "decoded"  # another image size is another entry


def test_the_cache_is_written_in_the_background_and_a_later_check_waits_for_it(flat_root: Path, private_image_cache: Path, monkeypatch):
    import threading

    release, real_save = threading.Event(), save_cached_images

    def slow_save(*args: Any) -> None:
        assert release.wait(timeout=60), "the test never released the writer"
        real_save(*args)

    monkeypatch.setattr(unbalanced.cache, "save_cached_images", slow_save)
    try:
        first = check_images(flat_root, 16)  # returns while its cache entry is still held back
        assert first.source == "decoded" and len(first.rows) == 20
        assert not _entries(private_image_cache, f"{flat_root.name}-16px-*")
    finally:
        release.set()
    second = check_images(flat_root, 16)  # waits for the write of this process, then reads it
    assert second.source == "cache"
    np.testing.assert_array_equal(first.images, second.images)


@pytest.mark.parametrize("change", ["add", "remove", "rewrite", "touch"])
def test_cache_is_rebuilt_when_a_file_changes(flat_root: Path, private_image_cache: Path, change: str):
    check_images(flat_root, 16)
    cats = flat_root / "train" / "cats"
    target = cats / "cat.0.jpg"
    if change == "add":
        write_images(cats, 1, 128, prefix="new")
    elif change == "remove":
        target.unlink()
    elif change == "rewrite":
        from PIL import Image

        Image.fromarray(np.full((20, 20, 3), 99, np.uint8)).save(target)
    else:
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = check_images(flat_root, 16)
    assert again.source == "decoded"
    wait_for_cache_writes()
    assert len(again.usable["cats"]) == {"add": 13, "remove": 11}.get(change, 12)
    if change == "rewrite":
        assert again.images[again.rows[str(target)]].mean() == pytest.approx(99, abs=2)
    assert len(_entries(private_image_cache, f"{flat_root.name}-16px-*")) == 1  # the old entry is removed
    assert check_images(flat_root, 16).source == "cache"


def test_damaged_or_half_built_cache_entries_are_never_used(flat_root: Path, private_image_cache: Path):
    first = check_images(flat_root, 16)
    wait_for_cache_writes()
    (entry,) = _entries(private_image_cache, f"{flat_root.name}-16px-*")
    (entry / "index.json").write_text('{"format": ')  # damaged by hand or by the disk
    partial = entry.parent / f".building-{entry.name}-killed"  # what a killed writer leaves
    partial.mkdir()
    (partial / "images.npy").write_bytes(b"\x93NUMPY truncated")
    again = check_images(flat_root, 16)
    assert again.source == "decoded"
    np.testing.assert_array_equal(first.images, again.images)
    assert check_images(flat_root, 16).source == "cache"  # the damaged entry was replaced


def test_cache_off_or_unwritable_still_gives_the_images(flat_root: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(IMAGE_CACHE_ENV, "off")
    assert check_images(flat_root, 16).source == "decoded"
    assert check_images(flat_root, 16).source == "decoded"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(IMAGE_CACHE_ENV, str(blocker))
    check = check_images(flat_root, 16)
    assert len(check.rows) == 20
    wait_for_cache_writes()
    assert "image cache not written" in capsys.readouterr().out


def test_two_processes_wanting_the_same_images_at_once_decode_them_once(tiny_demo_root: Path, tmp_path: Path):
    import subprocess
    import sys

    cache = tmp_path / "cache"
    # Both processes import TensorFlow first, then meet at a barrier of two files, then check at the same moment.
    code = ("import sys, time, hashlib; from pathlib import Path; from unbalanced.runtime import start_tensorflow; "
            "start_tensorflow(); from unbalanced.check import check_images; me, other = map(Path, sys.argv[2:4]); me.touch(); "
            "[time.sleep(0.01) for _ in iter(lambda: other.exists(), True)]; c = check_images(sys.argv[1], 24); "
            "print(c.source, hashlib.sha256(c.images.tobytes()).hexdigest())")  # fmt: skip
    env = {**os.environ, IMAGE_CACHE_ENV: str(cache)}
    barrier = [tmp_path / "ready-0", tmp_path / "ready-1"]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tiny_demo_root), str(barrier[i]), str(barrier[1 - i])], env=env,
                              stdout=subprocess.PIPE, text=True) for i in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outputs) == ["cache", "decoded"]  # one decoded; the other waited and read its entry
    assert outputs[0][1] == outputs[1][1]  # the same images
    slot_entries = [p for p in cache.glob("*/*") if p.name != ".owner.lock"] + list(cache.glob("*/.building*"))
    assert len(slot_entries) == 1 and not slot_entries[0].name.startswith(".")  # no half-built copy left


def test_a_second_publisher_of_the_same_entry_keeps_the_first(flat_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(IMAGE_CACHE_ENV, str(tmp_path / "cache"))
    check = check_images(flat_root, 16)
    wait_for_cache_writes()
    (entry,) = _entries(tmp_path / "cache")
    candidates = [(c, f) for c, files in check.usable.items() for f in files]
    outcomes = list(range(len(candidates)))
    save_cached_images(entry, flat_root, candidates, np.zeros_like(check.images), outcomes)  # loses the race
    assert _entries(entry.parent.parent) == [entry] and not list(entry.parent.glob(".building*"))
    np.testing.assert_array_equal(np.load(entry / "images.npy"), check.images)  # the first, whole entry stays
