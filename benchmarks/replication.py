"""Does a verdict replicate? The summary's comparisons from two run folders made on disjoint photo sets, side by side.

    python run_series.py --data-root data/disjoint --out runs/disjoint      # the same parameters, other photos
    python benchmarks/replication.py runs/notebooks runs/disjoint
    python benchmarks/replication.py runs/study runs/disjoint-study --experiments 01   # only what both hold
    python benchmarks/replication.py runs/study runs/disjoint-study --sweep           # the ratio sweeps (notebook 08)
    python benchmarks/replication.py runs/stored/study runs/disjoint-study --json benchmarks/replication-DATE.json

Issue 14's check: wherever either run calls a difference significant (after Holm's correction), the other run's
mean difference must point the same way. With --sweep the same rule applies to the ratio sweeps: each remedy's
pre-stated trend (its gain per tenfold ratio, Holm over the remedies) and its comparison at every ratio. Also prints the rank correlation of the two runs' mean differences, for
the reader's orientation only (with a handful of remedies it is itself noisy). Exit status 1 on a disagreement; 2 when
the runs cannot be compared (other parameters than the photos, other models, or too few splits for any verdict).
With --json, the table is also written as data: both runs' comparisons in full, the machines and code that trained
them, and the verdict of the check.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unbalanced.stats import BETTER, WORSE, Comparison, signed  # noqa: E402
from unbalanced.storage import DataError, json_safe  # noqa: E402
from unbalanced.store import ensure_unpacked  # noqa: E402
from unbalanced.study import compare_all, output_dir_of, read_ratio_sweep, read_run  # noqa: E402
from unbalanced.tasks import RESULTS_DIRNAME  # noqa: E402


# What may differ between the two runs: the photos (their folder and the fingerprint of the files kept).
DATA_FIELDS = {"data_root", "data_fingerprint"}


def verdicts(folder: str, experiments: list[str]) -> tuple[dict[str, Comparison], dict[str, object]]:
    """The summary's verdicts, as 99_summary draws them (remedies at their chosen settings, and the references, each
    family Holm-corrected), and the run's protocol; from the named experiments only, when given."""
    run = read_run(folder, experiments)
    comparisons = compare_all(run.baseline, run.chosen) + compare_all(run.baseline, run.references)
    return {c.remedy: c for c in comparisons}, asdict(run.protocol)


def sweep_verdicts(folder: str) -> tuple[dict[str, Comparison], dict[str, object]]:
    """The ratio sweep's trends and per-ratio comparisons, analysed again from the run's records, and its protocol."""
    result = read_ratio_sweep(folder)
    found = {f"{name}: gain per tenfold ratio": c for name, c in result.trends.items()}
    found |= {f"{name} at 1 : {x}": c for name, comparisons in result.gains.items() for x, c in zip(result.x, comparisons)
              if c.verdict != "trains exactly the baseline"}  # fmt: skip
    return found, asdict(next(iter(result.records.values()))[0].protocol)


def machines(folder: str) -> list[dict[str, str]]:
    """The distinct code versions and machines that trained a run's records (their `trained_on`)."""
    run = output_dir_of(folder)
    ensure_unpacked(run)
    found = {json.dumps(json.loads(p.read_text()).get("trained_on", {}), sort_keys=True) for p in (run / RESULTS_DIRNAME).glob("*.json")}
    return [json.loads(m) for m in sorted(found)]


def as_data(c: Comparison) -> dict[str, object]:
    """One run's side of a row: the comparison's numbers, its verdict and what it could detect."""
    return {"difference": c.difference, "low": c.low, "high": c.high, "p_holm": c.p_holm, "verdict": c.verdict,
            "detectable": c.detectable, "family": c.family, "paired_runs": c.runs, "splits": c.splits}  # fmt: skip


def cell(c: Comparison) -> str:
    """One run's side of a printed row: the difference, its 95 % interval, the verdict and, without one, what it could detect."""
    shown = c.verdict in (BETTER, WORSE) or not math.isfinite(c.detectable)
    detectable = "" if shown else f", detectable ±{c.detectable:.3f}"
    return f"{signed(c.difference)} ({signed(c.low)} to {signed(c.high)}), {c.verdict}{detectable}"


def refusal(a: dict[str, Comparison], b: dict[str, Comparison], pa: dict[str, object], pb: dict[str, object]) -> str:
    """Why the two runs cannot be compared (empty when they can): other parameters, other comparisons, too few runs."""
    differs = sorted(k for k in pa.keys() | pb.keys() if k not in DATA_FIELDS and pa.get(k) != pb.get(k))
    if differs:
        return "the runs differ in " + ", ".join(f"{k} ({pa.get(k)} vs {pb.get(k)})" for k in differs)
    if a.keys() != b.keys():
        return f"the runs compare different models: {sorted(a.keys() ^ b.keys())}"
    unjudged = sorted(n for n in a if not (a[n].judged and b[n].judged))
    return f"too few splits to judge {unjudged}: a check without verdicts proves nothing" if unjudged else ""


def main(argv: list[str]) -> int:
    """Print a markdown table of both runs' comparisons and whether every significant one agrees in direction."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--experiments", nargs="+", default=[], metavar="NN",
                        help="compare only these experiments (name prefixes, e.g. 01), for a run that holds only some")
    parser.add_argument("--sweep", action="store_true", help="compare the two runs' ratio sweeps (notebook 08) instead")
    parser.add_argument("--json", metavar="FILE", help="also write the comparison as data to FILE")
    args = parser.parse_args(argv)
    try:
        if args.sweep:
            (a, pa), (b, pb) = sweep_verdicts(args.first), sweep_verdicts(args.second)
        else:
            (a, pa), (b, pb) = verdicts(args.first, args.experiments), verdicts(args.second, args.experiments)
    except DataError as exc:
        print(f"error: cannot check replication: {exc}", file=sys.stderr)
        return 2
    if why := refusal(a, b, pa, pb):
        print(f"error: cannot check replication: {why}", file=sys.stderr)
        return 2
    names = list(a)
    print(f"| comparison | {args.first}: AP difference (95 %), verdict | {args.second}: AP difference (95 %), verdict | same direction |")
    print("| --- | --- | --- | --- |")
    disagreements, rows, rho = 0, [], None
    for n in names:
        significant = {a[n].verdict, b[n].verdict} & {BETTER, WORSE}
        same = bool(np.sign(a[n].difference) == np.sign(b[n].difference) != 0)
        disagreements += bool(significant) and not same
        same_cell = ("yes" if same else "**no**") if significant else ("yes" if same else "no (neither significant)")
        print(f"| {n} | {cell(a[n])} | {cell(b[n])} | {same_cell} |")
        rows.append({"comparison": n, "first": as_data(a[n]), "second": as_data(b[n]), "significant_in_either": bool(significant),
                     "same_direction": same})  # fmt: skip
    first, second = [a[n].difference for n in names], [b[n].difference for n in names]
    if len(set(first)) > 1 and len(set(second)) > 1:  # a rank correlation needs two distinct values on each side
        rho = float(stats.spearmanr(first, second).statistic)
        print(f"\nSpearman rank correlation of the mean differences: {rho:+.2f} over {len(names)} comparisons.")
    print(f"Significant verdicts that the other run contradicts in direction: {disagreements}.")
    if args.json:
        data = {"check": "sweep" if args.sweep else "verdicts", "experiments": args.experiments,
                "first": {"run": args.first, "protocol": pa, "trained_on": machines(args.first)},
                "second": {"run": args.second, "protocol": pb, "trained_on": machines(args.second)},
                "comparisons": rows, "spearman": rho, "contradicted": disagreements}  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(json_safe(data), indent=1) + "\n")  # an undefined figure as null
        print(f"written: {args.json}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
