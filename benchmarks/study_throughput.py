"""Trainings per hour of a study: one process with every core, against Dask LocalClusters of 1 and 2 workers with one
thread each, measured side by side in one run; and what one training costs beyond its updates.

    python benchmarks/study_throughput.py                # the bundled photos, quick protocol; about 27 min on 2 cores

Every mode trains the same tasks (four recipes on three splits, fixed work: patience 0), each in a fresh process so
that none inherits another's warm state; the order of the modes rotates between rounds. Per mode it reports wall
time (from the first task submitted to the last record back), trainings per hour, and the cluster's overhead: wall
time minus the tasks' own time divided among the workers, as a share of the wall time. Start-up (a LocalCluster's
workers importing TensorFlow and loading the images) is reported apart; a study of hundreds of trainings pays it
once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
sys.path[:0] = [str(PROJECT_ROOT)]

MODES = {"kernel": "one process, all cores", "cluster-1": "LocalCluster, 1 worker x 1 thread", "cluster-2": "LocalCluster, 2 workers x 1 thread"}


def _study(output_dir: str, threads: int, scheduler: str, epochs: int) -> Any:
    from unbalanced.study import Study

    parameters = dict(data_root="", positive_class="dogs", classes=[], image_size=32, batch_size=32, epochs=epochs, patience=0,
                      steps_per_epoch=0, negative_split_counts=[1000, 1000, 3000], positive_split_counts=[100, 100, 300],
                      more_positives=1000, split_seeds=[0, 1, 2], seeds=[42], target_recall=0.8, output_dir=output_dir,
                      workers=0, scheduler=scheduler, threads=threads)  # fmt: skip
    return Study.from_parameters(parameters)


def _recipes() -> list[Any]:
    from unbalanced.training import baseline, class_weight, oversampling

    return [baseline(), class_weight(3), class_weight(10), oversampling(0.5)]


def _warm(spec: Any) -> None:
    """On a worker: start TensorFlow as the tasks will, and load the study's images into the worker's memory."""
    from unbalanced import cluster
    from unbalanced.runtime import start_tensorflow
    from unbalanced.tasks import worker_data

    start_tensorflow(onednn=True, threads=1)
    key = (spec.data_root, spec.positive_class, spec.classes, spec.image_size, spec.counts, spec.split_seeds)
    cluster._WORKER_DATA[key] = worker_data(spec.data_root, spec.positive_class, None, spec.image_size, spec.counts, spec.split_seeds)


def child(mode: str, output_dir: str, epochs: int) -> dict[str, Any]:
    """Train the workload in one mode; return wall time, the tasks' own seconds and where they went."""
    from unbalanced.runtime import start_tensorflow
    from unbalanced.tasks import run_task

    start_tensorflow(onednn=True)
    started = time.perf_counter()
    if mode == "kernel":
        study = _study(output_dir, 0, "", epochs)
        tasks = study.tasks(_recipes())
        ready = time.perf_counter()
        records = [run_task(t, study.protocol, study.data) for t in tasks]
    else:
        from distributed import Client, LocalCluster

        from unbalanced.cluster import ClusterExecutor, DataSpec

        workers = int(mode.split("-")[1])
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
            with Client(cluster) as client:
                study = _study(output_dir, 1, cluster.scheduler_address, epochs)
                spec = DataSpec(str(study.data.root), "dogs", (), 32, study.data.counts, (0, 1, 2))
                client.run(_warm, spec)  # every worker imports TensorFlow and loads the images before the clock starts
                ready = time.perf_counter()
                execute = ClusterExecutor(client, study.protocol, spec, say=lambda _: None)
                records = [r for _, r in execute(study.tasks(_recipes()))]
    end = time.perf_counter()
    timings: dict[str, float] = {}
    for r in records:
        for k, v in r.trained.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    return {"mode": mode, "trainings": len(records), "start_up_s": ready - started, "wall_s": end - ready,
            "task_s": sum(r.trained.seconds for r in records), "timings_s": timings}  # fmt: skip


def cost_child(rounds: int = 5) -> dict[str, Any]:
    """What the per-training overheads the project cut cost, side by side in one process (32 px, 1,100 images):
    one call into TensorFlow per update or per epoch; scoring in batches of 32 or 256; Keras' metrics or none."""
    import numpy as np

    from unbalanced.runtime import seed_everything, start_tensorflow

    start_tensorflow(onednn=True)
    import keras

    from unbalanced.datasets import make_dataset, shuffled_stream
    from unbalanced.model import build_cnn

    seed_everything(1)
    x = np.random.default_rng(0).integers(0, 255, (1100, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(1100) < 100).astype(np.float32)
    old_metrics = [keras.metrics.AUC(name="pr_auc", curve="PR"), keras.metrics.AUC(name="roc_auc"), keras.metrics.Precision(), keras.metrics.Recall()]
    variants = {"one call per update, Keras metrics": (1, old_metrics), "one call per update": (1, []), "one call per epoch": (35, [])}
    models = {}
    for name, (spe, metrics) in variants.items():
        m = build_cnn(32)
        m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=metrics, steps_per_execution=spe)
        m.fit(shuffled_stream(x, y, 32, 0), steps_per_epoch=35, epochs=1, verbose=0)  # tracing: not timed
        models[name] = m
    epoch = {name: [] for name in variants}
    scoring = {32: [], 256: []}
    for r in range(rounds):
        for name in list(variants)[r % 3 :] + list(variants)[: r % 3]:
            start = time.perf_counter()
            models[name].fit(shuffled_stream(x, y, 32, r), steps_per_epoch=35, epochs=1, verbose=0)
            epoch[name].append(time.perf_counter() - start)
        for batch in (32, 256) if r % 2 else (256, 32):
            start = time.perf_counter()
            models["one call per epoch"].predict(make_dataset(x, y, batch), verbose=0)
            scoring[batch].append(time.perf_counter() - start)
    return {"epoch_s": epoch, "scoring_1100_s": scoring}


def run_child(mode: str, scratch: Path, epochs: int) -> dict[str, Any]:
    """One mode in a fresh process, with its own run folder and a warm, shared image cache."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(scratch / mode), str(epochs)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, "UNBALANCED_IMAGE_CACHE": str(scratch / "cache")})
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(raw: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per mode, medians over rounds: trainings per hour, wall time, and the cluster's overhead share."""
    out = {}
    for mode in MODES:
        runs = [r for r in raw if r["mode"] == mode]
        workers = 1 if mode == "kernel" else int(mode.split("-")[1])
        out[mode] = {
            "trainings_per_hour": statistics.median(3600 * r["trainings"] / r["wall_s"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "start_up_s": statistics.median(r["start_up_s"] for r in runs),
            "overhead_share": statistics.median(max(0.0, r["wall_s"] - r["task_s"] / workers) / r["wall_s"] for r in runs),
            "seconds_per_training": statistics.median(r["task_s"] / r["trainings"] for r in runs),
        }
    out["scaling"] = {"two_vs_one_worker": out["cluster-2"]["trainings_per_hour"] / out["cluster-1"]["trainings_per_hour"],
                      "two_workers_vs_kernel": out["cluster-2"]["trainings_per_hour"] / out["kernel"]["trainings_per_hour"]}  # fmt: skip
    return out


def table(s: dict[str, dict[str, float]], raw: list[dict[str, Any]]) -> str:
    """A markdown table of the modes, then the scaling ratios and where a training's time goes."""
    lines = ["| mode | trainings per hour | wall s (12 trainings) | s per training (its own) | cluster overhead | start-up s |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for mode, label in MODES.items():
        m = s[mode]
        overhead = "" if mode == "kernel" else f"{m['overhead_share']:.1%}"
        lines.append(f"| {label} | {m['trainings_per_hour']:.0f} | {m['wall_s']:.0f} | {m['seconds_per_training']:.1f} | {overhead} | {m['start_up_s']:.1f} |")
    lines.append("")
    lines.append(f"2 workers / 1 worker: {s['scaling']['two_vs_one_worker']:.2f}x trainings per hour (target 1.6); "
                 f"2 workers / one process with all cores: {s['scaling']['two_workers_vs_kernel']:.2f}x.")  # fmt: skip
    kernel = [r for r in raw if r["mode"] == "kernel"]
    total = sum(sum(r["timings_s"].values()) for r in kernel)
    parts = {k: sum(r["timings_s"].get(k, 0.0) for r in kernel) / total for k in kernel[0]["timings_s"]}
    lines.append("One training's time, one process: " + ", ".join(f"{k} {v:.0%}" for k, v in parts.items()) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every mode in rotating rounds, print the table, write the raw figures to JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--json", default=str(PROJECT_ROOT / "runs" / "study-throughput.json"))
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        mode, output_dir, epochs = args.child
        print(json.dumps(cost_child() if mode == "cost" else child(mode, output_dir, int(epochs))))
        return 0
    raw = []
    with tempfile.TemporaryDirectory(prefix="unbalanced-throughput-") as scratch:
        run_child("kernel", Path(scratch), 1)  # fills the image cache and the bundle: not timed
        for r in range(args.rounds):
            order = list(MODES)[r % 3 :] + list(MODES)[: r % 3]
            for mode in order:
                print(f"[{time.strftime('%H:%M:%S')}] round {r + 1}/{args.rounds}: {MODES[mode]}", file=sys.stderr, flush=True)
                raw.append(run_child(mode, Path(scratch) / f"round-{r}", args.epochs))
        print(f"[{time.strftime('%H:%M:%S')}] the cost of one training's overheads", file=sys.stderr, flush=True)
        cost = run_child("cost", Path(scratch), 0)
    summary = summarise(raw)
    from unbalanced.runtime import processor_kind

    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": {"cpus": os.cpu_count(), "processor": processor_kind(),
              "platform": platform.platform()}, "summary": summary, "raw": raw, "cost": cost}  # fmt: skip
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(table(summary, raw))
    med = {k: statistics.median(v) for k, v in cost["epoch_s"].items()}
    base = med["one call per update, Keras metrics"]
    print("\nOne epoch (35 updates), median of 5 in turns: " + ", ".join(f"{k} {v:.2f} s ({v / base:.2f})" for k, v in med.items()))
    s32, s256 = (statistics.median(cost["scoring_1100_s"][str(b)]) for b in (32, 256))  # JSON keys are strings
    print(f"Scoring 1,100 images: batches of 32 {s32:.2f} s, of 256 {s256:.2f} s ({s256 / s32:.2f})")
    print(f"\n{os.cpu_count()} CPUs ({processor_kind()}); figures in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
