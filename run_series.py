"""Execute the notebook series headlessly with papermill into a run folder.

    python run_series.py                                  # the bundled photos, default parameters, into runs/photos
    python run_series.py --data-root ~/data/cats-vs-dogs --out runs/kaggle -p epochs=10
    python run_series.py --config my-params.yaml          # parameters from a YAML mapping

A notebook may declare several parameter sets in its metadata (series.variants); it then runs once per set, into
one executed copy each. A config file's `variants: {notebook_stem: [{...}, ...]}` replaces those sets.

Each notebook in notebooks/ runs in name order, in a fresh kernel of the Python that runs this script. The run
folder receives the executed notebooks and, under results/, one machine-readable results file per experiment.
Ctrl-C stops the run at once, leaves nothing half-written and exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

PATH_PARAMETERS = ("data_root", "output_dir")
STORE_RESULTS = "runs/notebooks"  # the notebooks' default output_dir


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="folder holding train/<class>/<images>; default: the bundled photos ('demo': synthetic images)")
    p.add_argument("--config", help="YAML file mapping parameter names to values")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="set one parameter (repeatable)")
    p.add_argument("--out", help="run folder for executed notebooks and results (default: runs/photos or runs/<data root name>)")
    p.add_argument("--notebooks", nargs="*", help="notebook names or globs inside notebooks/, or .ipynb paths (default: all)")
    p.add_argument("--log-output", action="store_true", help="stream each cell's output to the terminal")
    p.add_argument("--cell-timeout", type=float, default=None, help="seconds one cell may run before the notebook fails")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook (default: run the rest)")
    p.add_argument("--resume", action="store_true", help="skip notebooks already complete in --out with the same parameters")
    p.add_argument("--workers", type=int, default=0, help="train on a Dask LocalCluster of this many worker processes (1 thread each)")
    p.add_argument("--scheduler", default="", help="train on the Dask cluster whose scheduler is at this address (tcp://host:8786)")
    p.add_argument(
        "--store", action="store_true", help="execute the notebooks in place with their default parameters (maintainers)"
    )
    return p


def gather_parameters(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's parameters (config file, then -p, then --data-root) and its per-notebook parameter sets."""
    from unbalanced.files import DEMO
    from unbalanced.runner.params import load_config, parse_assignment

    given = load_config(args.config)
    overrides = given.pop("variants", None) or {}
    given.update(parse_assignment(a) for a in args.param)
    if args.data_root is not None:
        given["data_root"] = args.data_root
    for name in PATH_PARAMETERS:
        if given.get(name) and not (name == "data_root" and given[name] == DEMO):
            given[name] = str(Path(given[name]).expanduser().resolve())
    return given, overrides


def prepare(args: argparse.Namespace) -> tuple[list[Any], Path | None]:
    """Check everything that can be checked before a notebook starts; return the plan and the run folder."""
    from unbalanced.runner.params import ConfigError, check_known, notebook_defaults, notebook_parameters, preflight_data
    from unbalanced.results import MANIFESTS_DIRNAME
    from unbalanced.runner.plan import Planned, plan_runs, select_notebooks
    from unbalanced.storage import PROJECT_ROOT

    notebooks = select_notebooks(args.notebooks)
    given, overrides = gather_parameters(args)
    if args.store:
        if given or overrides or args.workers or args.scheduler:
            raise ConfigError("--store executes the notebooks with their defaults, in their own kernels; give no parameters with it")
        # The stored summary must read what these executions write: their manifests replace the old ones. Records are
        # kept: each is keyed by everything that made it, so one read back is the one the training would write again.
        for nb in notebooks:
            (PROJECT_ROOT / STORE_RESULTS / MANIFESTS_DIRNAME / f"{nb.stem}.json").unlink(missing_ok=True)
        return [Planned(nb, nb.name, {}) for nb in notebooks], None
    default_out = f"runs/{Path(given['data_root']).name}" if given.get("data_root") else "runs/photos"
    out = Path(args.out or default_out).expanduser().resolve()
    given["output_dir"] = str(out)
    # Checked against the whole series (and any notebook given by path), so that one config (study.yaml) also serves
    # a run of some of its notebooks; each notebook still receives only the parameters it declares.
    check_known(sorted({*select_notebooks(None), *notebooks}), given, overrides)
    unswept = {"data_sizes", "ratios"} - {name for nb in notebooks for name in notebook_parameters(nb)}
    preflight_data({k: v for k, v in given.items() if k not in unswept}, notebook_defaults(notebooks))  # sweeps this run makes
    plan = plan_runs(notebooks, given, overrides)
    out.mkdir(parents=True, exist_ok=True)
    return plan, out


FOLDER_IN_USE = 75  # exit status when another run owns the run folder (EX_TEMPFAIL: try again later)


@contextlib.contextmanager
def cluster_for(args: argparse.Namespace, plan: list[Any]) -> Iterator[None]:
    """With --workers, a LocalCluster for the whole run (its workers keep TensorFlow and the images loaded from one
    notebook to the next); with --scheduler, that cluster. Every notebook gets its address as `scheduler`, and its
    tasks one thread each unless `threads` was given."""
    if not args.workers and not args.scheduler:
        yield
        return
    from unbalanced.cluster import connect
    from unbalanced.runner.params import notebook_parameters

    client, cluster = connect(args.workers, args.scheduler, threads=1)
    try:
        for step in plan:
            declared = notebook_parameters(step.notebook)
            if "scheduler" in declared:
                step.parameters.update(scheduler=client.scheduler.address, workers=0)
            if "threads" in declared:
                step.parameters.setdefault("threads", 1)
        yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the series, print a summary; return the exit status (130 after Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        from unbalanced.locks import FolderInUse
        from unbalanced.runner.execute import run_series, summary
        from unbalanced.runner.kernel import kernel_session, progress_relayed, run_folder_owned
        from unbalanced.runner.params import ConfigError
        from unbalanced.storage import PROJECT_ROOT

        try:
            plan, out = prepare(args)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            folder = out or PROJECT_ROOT / STORE_RESULTS
            with run_folder_owned(folder), progress_relayed(folder), kernel_session(), cluster_for(args, plan):
                outcomes = run_series(plan, out, args.log_output, args.cell_timeout, args.fail_fast, args.resume)
        except FolderInUse as exc:
            print(f"error: {exc} (--out names another run folder)", file=sys.stderr)
            return FOLDER_IN_USE
    except KeyboardInterrupt:
        print("interrupted; nothing half-written", file=sys.stderr)
        return 130
    print(summary(outcomes))
    if out is not None:
        print(f"run folder: {out}")
    if any(o.status == "interrupted" for o in outcomes):
        return 130
    failed = [o for o in outcomes if o.status not in ("passed", "skipped")]
    return 1 if failed or len(outcomes) < len(plan) else 0


if __name__ == "__main__":
    sys.exit(main())
