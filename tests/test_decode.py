"""Tests for unbalanced/decode.py: reading, scaling and rejecting image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_SAMPLE, write_images

from unbalanced.decode import DecodePlan, decode_files, decode_image, jpeg_size, precheck_file


def test_decode_reads_png_and_resizes(tmp_path: Path):
    from PIL import Image

    p = tmp_path / "x.png"
    Image.fromarray(np.full((30, 50, 3), 200, np.uint8)).save(p)
    img = decode_image(str(p), 12).numpy()
    assert img.shape == (12, 12, 3) and img.dtype == np.uint8 and abs(int(img.mean()) - 200) <= 1


def _photo_like(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """Write a JPEG with smooth gradients, edges and noise, like a photo's mix of detail."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    img = Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        draw.ellipse([x0, y0, x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 120))], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path, quality=90)
    return path


@pytest.mark.parametrize(("source", "target", "ratio"), [((500, 375), 64, 4), ((500, 375), 32, 8), ((1100, 1030), 64, 8), ((256, 256), 64, 4), ((255, 300), 64, 2), ((300, 200), 128, 1), ((500, 375), 400, 1)])
def test_jpeg_dct_scale_is_the_smallest_that_keeps_the_target_size(tmp_path: Path, source, target, ratio):
    path = _photo_like(tmp_path / "x.jpg", *source)
    plan = precheck_file(path, target)
    assert plan == DecodePlan(ratio, "area" if min(source) >= target else "bilinear")
    img = decode_image(str(path), target, plan).numpy()
    assert img.shape == (target, target, 3) and img.dtype == np.uint8
    if ratio > 1:  # what libjpeg returns at that scale still has at least the target size
        import tensorflow as tf

        scaled = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3, ratio=ratio)
        assert min(scaled.shape[:2]) >= target


def test_jpeg_size_reads_the_frame_header_or_defers_to_pillow(tmp_path: Path):
    from PIL import Image

    baseline = _photo_like(tmp_path / "baseline.jpg", 321, 123)
    progressive = tmp_path / "progressive.jpg"
    Image.open(baseline).save(progressive, progressive=True, quality=80)
    for p in (baseline, progressive):
        assert jpeg_size(p.read_bytes()[:4096]) == (123, 321)
    big_exif = tmp_path / "big-exif.jpg"  # a 60 kB metadata segment pushes the frame header past the bytes read
    Image.open(baseline).save(big_exif, exif=b"Exif\x00\x00" + bytes(60_000))
    assert jpeg_size(big_exif.read_bytes()[:4096]) is None
    assert precheck_file(big_exif, 32) == precheck_file(baseline, 32) == DecodePlan(2, "area")
    assert jpeg_size(b"\xff\xd8\xff\xe0 not really a jpeg") is None


def test_a_jpeg_whose_header_claims_too_many_pixels_is_skipped_before_decoding(tmp_path: Path):
    data = bytearray(_photo_like(tmp_path / "x.jpg", 64, 48).read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") + (30000).to_bytes(2, "big")
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    assert precheck_file(tmp_path / "bomb.jpg", 64).startswith("too large (30000x20000 pixels")


# DCT-scaled decoding against full decoding with an antialiased resize (the careful way): mean |difference| per
# image, in grey levels of 255, averaged over the photos, and the worst photo. The deeper the scale, the larger
# the difference (1/4 at 64 px, 1/8 at 32 px on 500 x 375 photos). For scale: the post's plain bilinear resize of
# fully decoded photos differs from the same reference by 6.7 on average at 64 px.
DCT_TOLERANCE = {64: (3.0, 10.0), 32: (4.0, 13.0)}


def _fast_and_reference(paths: list[Path], target: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode files with their DCT-scaled plans, and again in full with an antialiased resize."""
    plans = [precheck_file(p, target) for p in paths]
    assert all(p.ratio > 1 for p in plans)  # the test is about scaled decoding
    fast, _ = decode_files(paths, target, plans=plans)
    full, _ = decode_files(paths, target)
    return fast.astype(int), full.astype(int)


@pytest.mark.parametrize("target", [64, 32])
def test_dct_scaled_decoding_matches_full_decoding_within_tolerance(tmp_path: Path, target: int):
    paths = [_photo_like(tmp_path / f"{i}.jpg", 400 + 37 * i, 300 + 23 * i, seed=i) for i in range(6)]
    fast, full = _fast_and_reference(paths, target)
    per_image = np.abs(fast - full).reshape(len(paths), -1).mean(axis=1)
    assert per_image.mean() <= DCT_TOLERANCE[target][0] and per_image.max() <= DCT_TOLERANCE[target][1], per_image


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason=f"real photo sample not found at {REAL_SAMPLE}")
@pytest.mark.parametrize("target", [64, 32])
def test_dct_scaled_decoding_matches_full_decoding_on_real_photos(target: int):
    files = sorted((REAL_SAMPLE / "train").glob("*/*.jpg"))[::5]  # 400 photos, both classes
    files = [f for f in files if precheck_file(f, target).ratio > 1]
    fast, full = _fast_and_reference(files, target)
    per_image = np.abs(fast - full).reshape(len(files), -1).mean(axis=1)
    assert per_image.mean() <= DCT_TOLERANCE[target][0] and per_image.max() <= DCT_TOLERANCE[target][1], per_image.max()


def test_decode_keeps_files_in_order_and_closes_the_gaps_of_failures_in_place(tmp_path: Path):
    good = write_images(tmp_path, 4, 0)
    for i, p in enumerate(good):
        from PIL import Image

        Image.fromarray(np.full((20, 20, 3), 40 * (i + 1), np.uint8)).save(p)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    seen: list[tuple[int, int]] = []
    images, failures = decode_files([good[0], bad, good[1], good[2], good[3]], 8, progress=lambda d, t: seen.append((d, t)))
    assert list(failures) == [1] and "JPEG" in failures[1]
    assert images.shape == (4, 8, 8, 3)
    assert images.base is not None and images.base.shape == (5, 8, 8, 3)  # a view of the one buffer for all five files
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), [40, 80, 120, 160], atol=2)
    assert seen and seen[-1] == (4, 5)


# The decoder's exact output on images whose decoding is exact arithmetic on every processor: JPEGs that libjpeg
# scales by a whole DCT ratio straight to the target size, and a PNG shrunk by an exact 2 x 2 box filter. If this
# changes, decoding changed: bump CACHE_FORMAT in unbalanced/cache.py (old cache entries must not be reused), then
# record the new checksum here.
DECODER_CHECKSUM = "fbe8388cd9043a77"


def test_a_change_in_decoding_changes_this_checksum_and_must_bump_the_cache_format(tmp_path: Path):
    import hashlib

    from PIL import Image

    from unbalanced.cache import CACHE_FORMAT

    rng = np.random.default_rng(7)
    smooth = lambda n: np.clip(np.kron(rng.integers(0, 256, (n // 8, n // 8, 3)), np.ones((8, 8, 1))), 0, 255).astype(np.uint8)  # noqa: E731
    paths = []
    for name, size, fmt in (("a.jpg", 128, "JPEG"), ("b.jpg", 64, "JPEG"), ("c.png", 64, "PNG")):
        Image.fromarray(smooth(size)).save(tmp_path / name, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        paths.append(tmp_path / name)
    plans = [precheck_file(p, 32) for p in paths]
    assert plans == [DecodePlan(4, "area"), DecodePlan(2, "area"), DecodePlan(1, "area")]
    images, failures = decode_files(paths, 32, plans=plans)
    assert not failures
    digest = hashlib.sha256(images.tobytes()).hexdigest()[:16]
    assert (CACHE_FORMAT[:2], digest) == ("4:", DECODER_CHECKSUM), "decoding changed: bump CACHE_FORMAT, then update the checksum"
