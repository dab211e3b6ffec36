"""Speed and memory of the project's data pipeline against the original post's, measured side by side in one run.

    python benchmarks/pipeline.py --data-root ../shared/data/cats-vs-dogs-sample

Measures, on the same files:
  1. first pass over the data root: the original pipeline (a plain `.map`, one image at a time, no cache) against the
     project's check-and-decode (parallel, DCT-scaled JPEG decoding, written to the image cache), and the cached pass;
  2. steady-state training epochs (second epoch on): the original pipeline, the project's training stream and the
     same images held in memory as float32 tensors, one epoch each in turn, ratios taken within each round;
  3. peak memory (max RSS) of checking a generated 25,000-image data root at 64 x 64 and training one epoch.
Each measurement that must not share TensorFlow's process state runs in its own process. This is a benchmark, not a
test: it prints a table (markdown) and writes every figure to JSON; it fails only if something breaks. Trainings per
hour of whole studies are measured by benchmarks/study_throughput.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
sys.path[:0] = [str(PROJECT_ROOT), str(HERE)]

TARGETS = {"first_pass_speedup": 2.0, "steady_epoch_ratio": 1.05, "peak_memory_mb": 1500.0}


# --------------------------------------------------------------------------- the original pipeline


def original_dataset(files: list[str], labels: list[int], image_size: int, batch_size: int = 32, sequential: bool = True) -> Any:
    """The post's input pipeline over a file list: a plain map that reads, decodes and resizes every image, every epoch.

    The post's map runs one image at a time (sequential=True, the baseline the targets are set against).
    TensorFlow 2.21 would parallelise such a plain map on its own (tf.data's map_parallelization optimisation):
    sequential=False lets it, for reference.
    """
    import tensorflow as tf
    from original_post import map_options, prep_image

    def parse_file(filename: Any, label: Any) -> tuple[Any, Any]:
        return prep_image(filename, image_size), label

    ds = tf.data.Dataset.from_tensor_slices((files, labels)).shuffle(len(files), seed=42)
    return ds.map(parse_file).batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(map_options(not sequential))


def labelled_files(data_root: Path, per_class: int | None = None) -> tuple[list[str], list[int]]:
    """The data root's files as the project lists them (the first per_class of each class) and their labels (dogs = 1)."""
    from unbalanced.files import find_class_files

    found = find_class_files(data_root, ["cats", "dogs"])
    files, labels = [], []
    for label, name in enumerate(("cats", "dogs")):
        files += [str(p) for p in found[name][:per_class]]
        labels += [label] * len(found[name][:per_class])
    return files, labels


# --------------------------------------------------------------------------- measurements run in child processes


def child_first_pass(kind: str, data_root: str, image_size: int) -> dict[str, float]:
    """One pass over every file of the data root: the original pipeline, or the project's check (cold or warm cache)."""
    from unbalanced.check import check_images
    from unbalanced.runtime import start_tensorflow

    start_tensorflow(onednn=kind in ("project", "cached"))  # the original keeps TensorFlow's own choice
    import tensorflow as tf

    files, labels = labelled_files(Path(data_root))
    tf.constant(0) + 1  # TensorFlow's start-up is not part of a pass
    start = time.perf_counter()
    if kind.startswith("original"):
        n = sum(int(y.shape[0]) for _, y in original_dataset(files, labels, image_size, sequential=kind == "original"))
    else:
        check = check_images(data_root, image_size)
        n = len(check.rows)
        assert check.source == ("cache" if kind == "cached" else "decoded"), check.source
    return {"images": n, "seconds": time.perf_counter() - start}


def child_steady(data_root: str, image_size: int, per_class: int, rounds: int) -> dict[str, Any]:
    """Epoch times through the original pipeline, the project's pipeline and float32 tensors in memory.

    One model per pipeline; after an untimed first epoch (tracing), the three take turns one epoch at a time, the
    order rotating every round, so that the machine's slow and fast spells fall on all three alike.
    """
    import numpy as np

    from unbalanced.check import check_images
    from unbalanced.datasets import shuffled_stream
    from unbalanced.model import build_cnn, compile_model
    from unbalanced.runtime import start_tensorflow

    start_tensorflow(onednn=True)
    files, labels = labelled_files(Path(data_root), per_class)
    check = check_images(data_root, image_size)  # cached by the first-pass measurement
    x = check.images[[check.rows[f] for f in files]]
    y = np.asarray(labels)
    x_float = x.astype(np.float32) / 255.0
    inputs = {
        "original": {"x": original_dataset(files, labels, image_size), "shuffle": False},  # the datasets shuffle themselves
        "project": {"x": shuffled_stream(x, y, 32, seed=0), "steps_per_epoch": -(-len(x) // 32), "shuffle": False},
        "in_memory": {"x": x_float, "y": y.astype(np.float32), "batch_size": 32, "shuffle": True},
    }
    models = {name: compile_model(build_cnn(image_size)) for name in inputs}
    for name, model in models.items():
        model.fit(**inputs[name], epochs=1, verbose=0)  # the first epoch traces the model: not timed
    names = list(inputs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            start = time.perf_counter()
            models[name].fit(**inputs[name], epochs=1, verbose=0)
            times[name].append(time.perf_counter() - start)
        print(f"  steady round {r + 1}/{rounds}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in names), file=sys.stderr)
    return {"images_per_epoch": len(files), "epoch_seconds": times}


def child_memory(data_root: str, image_size: int) -> dict[str, Any]:
    """Check the data, cut the original post's splits and train one epoch on its balanced set; report this process's
    peak resident memory."""
    from pathlib import Path

    from unbalanced.datasets import load_study_data, shuffled_stream
    from unbalanced.model import build_cnn, compile_model
    from unbalanced.runtime import start_tensorflow
    from unbalanced.splits import SplitCounts

    start_tensorflow(onednn=True)
    start = time.perf_counter()
    data = load_study_data(Path(data_root), "dogs", None, image_size, SplitCounts.of([1000, 1000, 1000], [100, 100, 100], 1000), [0])
    prepared = time.perf_counter() - start
    train = data.plan(0).training_set(1000, 1000)
    model = compile_model(build_cnn(image_size))
    model.fit(shuffled_stream(data.images(train), train.labels, 32, seed=0), steps_per_epoch=63, epochs=1, verbose=0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return {"source": data.check.source, "images": len(data.check.rows), "prepare_seconds": prepared, "peak_rss_mb": peak_mb}


CHILDREN = {"first-pass": child_first_pass, "steady": child_steady, "memory": child_memory}


# --------------------------------------------------------------------------- the parent: run, compare, report


def run_child(name: str, *args: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return what it measured."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, *map(str, args)]
    done = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    sys.stderr.write("".join(line + "\n" for line in done.stderr.splitlines() if line.startswith("  ")))
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_synthetic_root(folder: Path, per_class: int, size: int) -> Path:
    """Write per_class synthetic demo JPEGs of size x size pixels into folder/train/{cats,dogs} (seeded)."""
    from unbalanced.synthetic import make_demo_dataset

    return make_demo_dataset(folder, per_class=per_class, sizes=(size, size + 1))


def step(message: str) -> None:
    """Print a progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Run every measurement and return the raw figures."""
    root, size = str(Path(args.data_root).resolve()), args.image_size
    cache = lambda name: {"UNBALANCED_IMAGE_CACHE": str(scratch / name)}  # noqa: E731
    result: dict[str, Any] = {}

    step("first pass: original pipeline vs project (cold cache) vs project (cached), alternating")
    run_child("first-pass", "original", root, size)  # warm the page cache so that both read from memory
    passes: dict[str, list[float]] = {"original": [], "original_auto_parallel": [], "project": [], "cached": []}
    for r in range(args.rounds):
        for kind in passes:
            env = cache(f"first-pass-{r}")
            got = run_child("first-pass", kind, root, size, env=env)
            passes[kind].append(got["images"] / got["seconds"])
    result["first_pass_images_per_s"] = passes

    step("steady-state epochs: original pipeline vs project vs tensors in memory")
    result["steady"] = run_child("steady", root, size, args.steady_per_class, args.steady_rounds, env=cache("first-pass-0"))

    if not args.skip_memory:
        step(f"peak memory: generating {args.memory_images:,} images of {size} x {size}")
        synthetic = make_synthetic_root(scratch / "synthetic", args.memory_images // 2, size)
        result["memory_cold"] = run_child("memory", synthetic, size, env=cache("memory"))
        result["memory_cached"] = run_child("memory", synthetic, size, env=cache("memory"))
    return result


def summarise(raw: dict[str, Any]) -> dict[str, float]:
    """Reduce raw measurements to the compared figures: medians of repeats, ratios taken within each round."""
    fp = {k: statistics.median(v) for k, v in raw["first_pass_images_per_s"].items()}
    per_epoch = raw["steady"]["epoch_seconds"]
    epochs = {k: statistics.median(v) for k, v in per_epoch.items()}
    paired = lambda a, b: statistics.median(x / y for x, y in zip(per_epoch[a], per_epoch[b]))  # noqa: E731 - same round
    s = {
        "first_pass_original": fp["original"], "first_pass_original_auto_parallel": fp["original_auto_parallel"],
        "first_pass_auto_parallel_speedup": fp["project"] / fp["original_auto_parallel"], "first_pass_project": fp["project"], "first_pass_cached": fp["cached"],
        "first_pass_speedup": fp["project"] / fp["original"],
        "epoch_original_s": epochs["original"], "epoch_project_s": epochs["project"], "epoch_in_memory_s": epochs["in_memory"],
        "steady_epoch_ratio": paired("project", "in_memory"), "original_epoch_ratio": paired("original", "in_memory"),
    }  # fmt: skip
    if "memory_cold" in raw:
        s["peak_memory_mb"] = max(raw["memory_cold"]["peak_rss_mb"], raw["memory_cached"]["peak_rss_mb"])
    return s


def table(s: dict[str, float], raw: dict[str, Any]) -> str:
    """A markdown table of the compared figures with their targets."""
    def verdict(key: str, value: float) -> str:
        target = TARGETS[key]
        ok = value >= target if key == "first_pass_speedup" else value <= target
        return f"{'≥' if key == 'first_pass_speedup' else '≤'} {target:g}: {'met' if ok else 'NOT met'}"

    n_epoch = raw["steady"]["images_per_epoch"]
    rows = [
        ("first pass (original: the post's map, one image at a time), images/s", f"{s['first_pass_original']:,.0f}", f"{s['first_pass_project']:,.0f} (cached: {s['first_pass_cached']:,.0f})",
         f"{s['first_pass_speedup']:.2f}x", verdict("first_pass_speedup", s["first_pass_speedup"])),
        ("first pass, the post's map parallelised by TensorFlow 2.21, images/s", f"{s['first_pass_original_auto_parallel']:,.0f}",
         f"{s['first_pass_project']:,.0f}", f"{s['first_pass_auto_parallel_speedup']:.2f}x", "(reference)"),
        (f"training epoch from the 2nd on ({n_epoch:,} images), s", f"{s['epoch_original_s']:.2f}", f"{s['epoch_project_s']:.2f}",
         f"project / in memory ({s['epoch_in_memory_s']:.2f} s) = {s['steady_epoch_ratio']:.3f}; original / in memory = {s['original_epoch_ratio']:.2f}",
         verdict("steady_epoch_ratio", s["steady_epoch_ratio"])),
    ]  # fmt: skip
    if "peak_memory_mb" in s:
        cold, warm = raw["memory_cold"], raw["memory_cached"]
        rows.append((f"peak memory, {cold['images']:,} images at 64 x 64, MB", "",
                     f"{cold['peak_rss_mb']:,.0f} (cold) / {warm['peak_rss_mb']:,.0f} (cached)", "",
                     verdict("peak_memory_mb", s["peak_memory_mb"])))  # fmt: skip
    lines = ["| measure | original | project | comparison | target |", "| --- | --- | --- | --- | --- |"]
    return "\n".join(lines + [f"| {' | '.join(r)} |" for r in rows])


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(PROJECT_ROOT.parent / "shared" / "data" / "cats-vs-dogs-sample"))
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5, help="repeats of each first-pass measurement (median reported)")
    p.add_argument("--steady-per-class", type=int, default=500, help="images per class in the steady-state epochs")
    p.add_argument("--steady-rounds", type=int, default=10, help="timed epochs per pipeline, taken in turns")
    p.add_argument("--memory-images", type=int, default=25_000)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--json", default=str(PROJECT_ROOT / "runs" / "pipeline-benchmark.json"), help="where to write the figures")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --child, one measurement) and report."""
    args = build_parser().parse_args(argv)
    if args.child:
        name, *rest = args.child
        fn = CHILDREN[name]
        converted = [int(a) if a.isdigit() else a for a in rest]
        print(json.dumps(fn(*converted)))
        return 0
    if not (Path(args.data_root) / "train").is_dir():
        print(f"error: {args.data_root} has no train/ folder; pass --data-root <folder with train/cats and train/dogs>", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unbalanced-benchmark-") as scratch:
        raw = measure(args, Path(scratch))
    summary = summarise(raw)
    import tensorflow as tf

    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
              "python": platform.python_version(), "tensorflow": tf.__version__}, "data_root": args.data_root,
              "targets": TARGETS, "summary": summary, "raw": raw, "benchmark_seconds": time.perf_counter() - started}  # fmt: skip
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(table(summary, raw))
    print(f"\n{os.cpu_count()} CPUs, TensorFlow {tf.__version__}; figures in {out}; benchmark took {report['benchmark_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
