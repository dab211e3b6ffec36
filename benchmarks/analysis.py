"""The summary's analysis of a stored study, with and without the resample rows kept between comparisons, side by side.

    python benchmarks/analysis.py                        # records/study; about 3 minutes on 2 cores
    python benchmarks/analysis.py runs/study --rounds 3

Notebook 99 compares six remedies and two references with one baseline, in AP and at three operating points, under
the same 1,000 resamples of the test photos, and notebook 08 compares each of its baselines several times. The rows
of one record under those resamples are computed once and kept (`unbalanced.stats.metric_rows`); "each time" clears
them before every comparison, as the analysis did before they were kept. Both modes run the same calls in one
process, in rounds whose order alternates, and must give identical comparisons (with the same metric code: whether
that code gives the numbers the stored notebooks show is nbval's check). Then one record's metrics from float64
weights against float32 counts, the form the comparisons use, which must agree exactly. Prints seconds per mode
(median over rounds) and their ratio; --json writes them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced import stats, study  # noqa: E402
from unbalanced.study import compare_all, compare_points, read_ratio_sweep, read_run  # noqa: E402


def _each_time(call: Callable[[], Any]) -> Callable[[], Any]:
    """`call` with the kept rows cleared before every comparison it makes (compare and the sweep's trends both go
    through contrast, which study.py imports by name)."""

    def run() -> Any:
        real = stats.contrast

        def fresh(*args: Any, **kwargs: Any) -> Any:
            stats.forget_rows()
            return real(*args, **kwargs)

        stats.contrast = study.contrast = fresh
        try:
            return call()
        finally:
            stats.contrast = study.contrast = real

    return run


def time_counts_against_weights(record: Any, rounds: int) -> dict[str, dict[str, Any]]:
    """One record's AP and operating-point rows under 1,000 resamples, from float64 weights (counts times the
    deployment weights) and from float32 counts with the negatives' weight applied after: seconds (median over
    alternating rounds) and whether they agree exactly."""
    import numpy as np

    from unbalanced.metrics import ap_rows, at_threshold_rows, deployment_weights, negative_weight

    labels, scores = record.test_labels, record.trained.test_scores
    counts = stats.resample_counts([record])
    weights, times = counts.astype(float) * deployment_weights(labels, record.val_labels), negative_weight(labels, record.val_labels)
    ways = {"AP": (lambda: ap_rows(labels, scores, weights), lambda: ap_rows(labels, scores, counts, times)),
            "operating point at 0.5": (lambda: at_threshold_rows(labels, scores, weights, 0.5)["precision"],
                                       lambda: at_threshold_rows(labels, scores, counts, 0.5, times)["precision"])}  # fmt: skip
    out = {}
    for name, (wide, narrow) in ways.items():
        seconds: dict[str, list[float]] = {"float64 weights": [], "float32 counts": []}
        for r in range(rounds):
            for label, call in (("float64 weights", wide), ("float32 counts", narrow))[:: 1 if r % 2 == 0 else -1]:
                start = time.perf_counter()
                call()
                seconds[label].append(time.perf_counter() - start)
        out[name] = {k: statistics.median(v) for k, v in seconds.items()} | {"identical": bool(np.array_equal(wide(), narrow(), equal_nan=True))}
    return out


def main(argv: list[str]) -> int:
    """Time the analysis both ways and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", default="runs/stored/study", help="a finished run folder, or runs/stored/<name>")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    run = read_run(args.run)
    calls: dict[str, Callable[[], Any]] = {
        "99: remedies in AP": lambda: compare_all(run.baseline, run.chosen),
        "99: operating points": lambda: compare_points(run.baseline, run.chosen),
        "99: references": lambda: compare_all(run.baseline, run.references),
    }
    if list((run.output_dir / "experiments").glob("08*.json")):
        calls["08: the ratio sweep"] = lambda: read_ratio_sweep(args.run)
    seconds: dict[str, dict[str, list[float]]] = {mode: {name: [] for name in calls} for mode in ("each time", "kept")}
    results: dict[str, dict[str, Any]] = {"each time": {}, "kept": {}}
    for r in range(args.rounds):
        for mode in ("each time", "kept") if r % 2 == 0 else ("kept", "each time"):
            stats.forget_rows()  # every mode starts cold; "kept" fills them as the notebook does
            for name, call in calls.items():
                start = time.perf_counter()
                results[mode][name] = (_each_time(call) if mode == "each time" else call)()
                seconds[mode][name].append(time.perf_counter() - start)
    counts = time_counts_against_weights(run.baseline[0], args.rounds * 3)
    same = repr(results["each time"]) == repr(results["kept"])
    print(f"{'analysis':<24} {'each time (s)':>14} {'kept (s)':>10} {'ratio':>7}")
    table = {}
    for name in calls:
        a, b = statistics.median(seconds["each time"][name]), statistics.median(seconds["kept"][name])
        table[name] = {"each time": a, "kept": b, "ratio": a / b}
        print(f"{name:<24} {a:>14.1f} {b:>10.1f} {a / b:>6.2f}x")
    total_a, total_b = sum(t["each time"] for t in table.values()), sum(t["kept"] for t in table.values())
    print(f"{'all':<24} {total_a:>14.1f} {total_b:>10.1f} {total_a / total_b:>6.2f}x")
    print(f"identical comparisons both ways: {same}")
    for name, t in counts.items():
        print(f"{name}: float64 weights {t['float64 weights'] * 1e3:.1f} ms, float32 counts {t['float32 counts'] * 1e3:.1f} ms, "
              f"{t['float64 weights'] / t['float32 counts']:.2f}x, identical: {t['identical']}")  # fmt: skip
    same = same and all(t["identical"] for t in counts.values())
    if args.json:
        cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        Path(args.json).write_text(json.dumps({"run": args.run, "rounds": args.rounds, "platform": platform.platform(),
                                               "avx512f": "avx512f" in cpu, "seconds": table, "one record": counts, "identical": same}, indent=1))  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
