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
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

PATH_PARAMETERS = ("data_root", "output_dir")


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
    p.add_argument("--reuse-records", metavar="STORE", help="first copy into the run folder every record of this store "
                   "(such as records/study) that it lacks: a study resumed on a fresh clone trains only the rest")  # fmt: skip
    maintainers = p.add_mutually_exclusive_group()
    maintainers.add_argument("--pack", metavar="RUN", help="pack RUN's records into records/<RUN's name>, finished or not, and exit (maintainers)")
    maintainers.add_argument("--store", metavar="RUN", help="pack the finished run RUN into records/<RUN's name> and re-execute notebooks/ "
                   "in place from those records, nothing trained; given runs/stored/<name>, re-execute them from records/<name> as "
                   "stored, nothing packed (maintainers)")  # fmt: skip
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
    from unbalanced.runner.plan import plan_runs, select_notebooks

    notebooks = select_notebooks(args.notebooks)
    given, overrides = gather_parameters(args)
    if args.store:
        if given or overrides or args.workers or args.scheduler or args.reuse_records:
            raise ConfigError("--store executes the notebooks with the stored run's own parameters; give no parameters with it")
        return store_plan(Path(args.store).expanduser().resolve(), notebooks), None
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
    if args.reuse_records:
        from unbalanced.store import seed_run

        print(f"{seed_run(Path(args.reuse_records).expanduser().resolve(), out)} stored record(s) copied into {out}", flush=True)
    return plan, out


def store_plan(run: Path, notebooks: Sequence[Path]) -> list[Any]:
    """Pack a finished run into records/<its name>, unpack it into runs/stored/<its name>, and plan each notebook's
    execution in place with the parameters its copy in the run had: the stored run folder instead of the run's, where
    nothing can train. Given that stored run folder itself, nothing is packed: the stored notebooks are re-executed
    from the records already stored, with their own parameters (after a change to the text or the analysis)."""
    from unbalanced.runner.execute import already_complete
    from unbalanced.runner.params import ConfigError
    from unbalanced.runner.plan import Planned, select_notebooks
    from unbalanced.storage import resolve_path
    from unbalanced.store import STORED_RUNS, pack, store_for, stored_run, unpack

    store = store_for(run)
    if run.parent == resolve_path(STORED_RUNS):
        return restore_plan(store, notebooks)
    parameters = {}
    for nb in select_notebooks(None):  # the whole series, whichever notebooks are re-executed: a store is a whole study
        executed = run / nb.name
        found = executed_parameters(executed)
        if found is None or not already_complete(executed, found):
            raise ConfigError(f"{executed} is not a completed execution: finish the run (make study) before storing it")
        where = {k: v for k, v in (("workers", 0), ("scheduler", "")) if k in found}
        parameters[nb] = {**found, "output_dir": stored_run(store), **where}
    packed = pack(run, store)
    print(f"packed {packed.records} records into {store} ({packed.megabytes:.1f} MB)", flush=True)
    for line in packed.left_out:
        print(f"  left out: {line}", flush=True)
    unpack(store, Path(stored_run(store)))
    return [Planned(nb, nb.name, parameters[nb]) for nb in notebooks]


def restore_plan(store: Path, notebooks: Sequence[Path]) -> list[Any]:
    """Plan each stored notebook's re-execution in place from the records it was stored from, with its own
    parameters; refuse a notebook that was not stored from `store` (it needs a finished run: --store runs/<name>)."""
    import nbformat

    from unbalanced.runner.params import ConfigError
    from unbalanced.runner.plan import Planned
    from unbalanced.storage import resolve_path
    from unbalanced.store import ensure_unpacked, read_index, stored_run

    read_index(store)  # a clear error where the store is missing
    plan = []
    for nb in notebooks:
        found = executed_parameters(nb)
        named = nbformat.read(nb, as_version=4).metadata.get("stored_records", {}).get("store") if found else None
        if found is None or named is None or resolve_path(named) != resolve_path(store):
            raise ConfigError(f"{nb} was not stored from {store}: store it from a finished run, "
                              f"python run_series.py --store runs/{store.name}")  # fmt: skip
        plan.append(Planned(nb, nb.name, {**found, "output_dir": stored_run(store)}))
    ensure_unpacked(resolve_path(stored_run(store)))
    print(f"re-executing {len(plan)} stored notebook(s) from {store}, as stored (nothing packed)", flush=True)
    return plan


def executed_parameters(notebook: Path) -> dict[str, Any] | None:
    """The parameters papermill gave an executed notebook, or None where it is missing or unreadable."""
    import json

    try:
        return json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
    except (OSError, ValueError, KeyError):
        return None


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


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM (`kill`, a job scheduler's stop) ends a run as Ctrl-C does, and so does SIGINT where a background start
    (`nohup ... &` from a script) left it ignored; the handlers before are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop), signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the series, print a summary; return the exit status (130 after Ctrl-C or
    SIGTERM)."""
    try:
        with stopped_by_signals():
            return _main(argv)
    except KeyboardInterrupt:  # one that lands while the handlers are being set
        print("interrupted; nothing half-written", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from unbalanced.locks import FolderInUse
        from unbalanced.runner.execute import run_series, summary
        from unbalanced.runner.kernel import kernel_session, progress_relayed, run_folder_owned
        from unbalanced.runner.params import ConfigError
        from unbalanced.storage import PROJECT_ROOT, DataError
        from unbalanced.store import store_for, stored_run

        try:
            if args.pack:
                return pack_only(Path(args.pack).expanduser().resolve())
            plan, out = prepare(args)
        except (ConfigError, DataError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            folder = out or PROJECT_ROOT / stored_run(store_for(args.store))
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
        if all(o.status in ("passed", "skipped") for o in outcomes):
            print_beside_stored(out)
    elif all(o.status == "passed" for o in outcomes) and len(outcomes) == len(plan):
        mark_stored(plan, store_for(args.store))
    if any(o.status == "interrupted" for o in outcomes):
        return 130
    failed = [o for o in outcomes if o.status not in ("passed", "skipped")]
    return 1 if failed or len(outcomes) < len(plan) else 0


def print_beside_stored(out: Path) -> None:
    """After a run: its figures beside those of the study the stored notebooks show, where both can be read."""
    import json

    from unbalanced.runner.plan import NOTEBOOK_DIR
    from unbalanced.storage import PROJECT_ROOT, DataError
    from unbalanced.store import stored_run
    from unbalanced.study import beside_stored

    try:
        first = json.loads((NOTEBOOK_DIR / "01_balanced_vs_unbalanced.ipynb").read_text(encoding="utf-8"))
        store = PROJECT_ROOT / first["metadata"]["stored_records"]["store"]
        if (out / "experiments").is_dir() and out.resolve() != (PROJECT_ROOT / stored_run(store)).resolve():
            print("\n" + beside_stored(out, PROJECT_ROOT / stored_run(store)))
    except KeyError:
        print("(not compared with a stored study: the stored notebooks name no stored records)")
    except (DataError, OSError, ValueError) as exc:  # a run with no experiment to compare, or a damaged store
        print(f"(not compared with the stored study: {exc})")


def pack_only(run: Path) -> int:
    """--pack: a study's records so far into records/study, so that a fresh clone resumes it (--reuse-records)."""
    from unbalanced.store import pack, store_for

    packed = pack(run, store_for(run), partial=True)
    print(f"packed {packed.records} records of {run} into {packed.store} ({packed.megabytes:.1f} MB)")
    for line in packed.left_out:
        print(f"  left out: {line}")
    return 0


def mark_stored(plan: Sequence[Any], store: Path) -> None:
    """Name in each stored notebook's metadata the records it was executed from (the store and its index's SHA-256),
    which tests/test_notebooks.py checks against the store."""
    import nbformat

    from unbalanced.store import index_digest
    from unbalanced.storage import PROJECT_ROOT

    digest = index_digest(store)
    try:
        named = store.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        named = str(store.resolve())
    for step in plan:
        nb = nbformat.read(step.notebook, as_version=4)
        nb.metadata["stored_records"] = {"store": named, "index_sha256": digest}
        for cell in nb.cells:  # papermill's cell of this run's values: plumbing, kept out of sight in JupyterLab
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        nbformat.write(nb, step.notebook)


if __name__ == "__main__":
    sys.exit(main())
