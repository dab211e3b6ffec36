"""Decoding image files: how each one is read (from its own header), decoded, resized, and why one cannot be used."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DCT_RATIOS = (1, 2, 4, 8)  # the scales libjpeg can decode at directly (1/1, 1/2, 1/4, 1/8)
MAX_PIXELS = 100_000_000  # larger images are skipped: decoding one would take gigabytes
JPEG_MAGIC = b"\xff\xd8\xff"
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # start of frame


@dataclass(frozen=True)
class DecodePlan:
    """How one file is decoded: libjpeg's DCT scale (1 = full size) and the resize method to the target size."""

    ratio: int = 1
    method: str = "bilinear"  # "area" (a box filter) when both sides shrink, else antialiased bilinear


def jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Return (height, width) from a JPEG's start-of-frame header, or None when these bytes do not reach it."""
    i = 2
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return height, width
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
        else:
            i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def decode_plan(height: int, width: int, image_size: int, is_jpeg: bool) -> DecodePlan:
    """Pick the smallest DCT scale whose shorter side stays at least image_size (JPEG only), and the resize method."""
    ratio = max(r for r in DCT_RATIOS if r == 1 or (is_jpeg and min(height, width) >= r * image_size))
    shrinks = min(-(-height // ratio), -(-width // ratio)) >= image_size
    return DecodePlan(ratio, "area" if shrinks else "bilinear")


def decode_image(path: Any, image_size: int, plan: DecodePlan = DecodePlan()) -> Any:
    """Read an image file and return it resized to image_size x image_size as uint8 RGB, decoded as the plan says.

    With plan.ratio > 1 (JPEG only) libjpeg decodes at 1/2, 1/4 or 1/8 scale, skipping most of the inverse DCT;
    the result matches full decoding within a few grey levels (tests/test_decode.py states the bound).
    """
    import tensorflow as tf

    raw = tf.io.read_file(path)
    if plan.ratio > 1:
        img = tf.io.decode_jpeg(raw, channels=3, ratio=plan.ratio)
    else:
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
    img = tf.image.resize(img, (image_size, image_size), method=plan.method, antialias=plan.method == "bilinear")
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def read_head(path: Path, size: int = 4096) -> bytes:
    """Read a file's first bytes (raises OSError when it cannot be read)."""
    with open(path, "rb") as f:
        return f.read(size)


def precheck_file(path: Path, image_size: int) -> DecodePlan | str:
    """Return how to decode a file, or why it cannot be used (empty, unreadable, too large).

    A JPEG's size comes from its own header; other formats are measured by Pillow without decoding them. A file
    Pillow cannot read either is left to TensorFlow, which names the error if it cannot decode it.
    """
    import warnings

    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        head = read_head(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    is_jpeg = head.startswith(JPEG_MAGIC)
    size = jpeg_size(head) if is_jpeg else None
    if size is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    size = im.size[::-1]
        except Image.DecompressionBombError:
            return f"too large (over {MAX_PIXELS // 1_000_000} megapixels)"
        except Exception:  # noqa: BLE001 - Pillow cannot read it; TensorFlow may (JPEG XL), and names the error if not
            return DecodePlan()
    height, width = size
    if height * width > MAX_PIXELS:
        return f"too large ({width}x{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels)"
    return decode_plan(height, width, image_size, is_jpeg)


def decode_failure(path: Path, image_size: int, plan: DecodePlan = DecodePlan()) -> str:
    """Decode one file eagerly and say in plain words why TensorFlow rejects it, its own text in a TF_DETAIL suffix."""
    import tensorflow as tf

    try:
        decode_image(str(path), image_size, plan)
    except (tf.errors.OpError, ValueError) as exc:
        message = str(getattr(exc, "message", exc)).strip().splitlines()[0]
        if "Unknown image file format" in message:
            reason = "not an image TensorFlow can decode (JPEG, PNG, GIF, BMP, WebP)"
        elif "jpeg" in message.lower():
            reason = "corrupt or truncated JPEG"
        else:
            reason = "cannot be decoded"
        return f"{reason}{TF_DETAIL}{message})"
    return "cannot be decoded"


TF_DETAIL = " (TensorFlow: "  # what follows is TensorFlow's own message: shown only when asked for (--verbose)


def plain_reason(reason: str, detail: bool = False) -> str:
    """A skip reason as a reader sees it: without TensorFlow's internal text unless `detail`."""
    return reason if detail else reason.split(TF_DETAIL, 1)[0]


def decode_files(
    paths: Sequence[Path],
    image_size: int,
    progress: Callable[[int, int], None] | None = None,
    plans: Sequence[DecodePlan] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Decode files in parallel; return the images of those that decoded (in order) and a reason for each that did not.

    Files that share a decode plan go through one pipeline with that plan fixed, so no per-image control flow
    runs in the graph. Images go straight into one preallocated uint8 array: the peak is one copy of the data.
    """
    import tensorflow as tf

    plans = list(plans) if plans is not None else [DecodePlan()] * len(paths)
    images = np.empty((len(paths), image_size, image_size, 3), np.uint8)
    decoded = np.zeros(len(paths), bool)
    pipelines = []
    for plan in sorted(set(plans), key=lambda p: (p.ratio, p.method)):
        index = [i for i, p in enumerate(plans) if p == plan]
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(index, np.int64), [str(paths[i]) for i in index]))
        decode = tf.autograph.experimental.do_not_convert(lambda i, p, plan=plan: (i, decode_image(p, image_size, plan)))
        pipelines.append(ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False))  # rows carry their index
    if pipelines:
        ds = functools.reduce(lambda a, b: a.concatenate(b), pipelines)
        for i, x in ds.ignore_errors().batch(256):  # a bad file is dropped here, never mid-epoch
            rows = i.numpy()
            images[rows], decoded[rows] = x.numpy(), True
            if progress:
                progress(int(decoded.sum()), len(paths))
    failed = np.flatnonzero(~decoded)
    if failed.size:  # close the gaps in place, keeping file order, without a second copy
        for target, source in enumerate(np.flatnonzero(decoded)):
            images[target] = images[source]
    reasons = {int(i): decode_failure(paths[i], image_size, plans[i]) for i in failed}
    return images[: len(paths) - failed.size], reasons
