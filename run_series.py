"""Execute the notebook series headlessly with papermill into a run folder.

    python run_series.py                                  # demo data, default parameters, into runs/demo
    python run_series.py --data-root ~/data/cats-vs-dogs --out runs/kaggle -p epochs=10
    python run_series.py --config my-params.yaml          # parameters from a YAML mapping

A notebook may declare several parameter sets in its metadata (series.variants); it then runs once per set, into
one executed copy each. A config file's `variants: {notebook_stem: [{...}, ...]}` replaces those sets.

Each notebook in notebooks/ runs in name order, in the Python environment that runs this script. The run
folder receives the executed notebooks and, under results/, one machine-readable results file per experiment.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

# jsonschema (imported by papermill through nbformat) builds a Lark grammar for its optional IRI format check when
# rfc3987_syntax is installed: 1.7 of papermill's 2.2 s import here. Notebook validation never checks formats.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

PROJECT_ROOT = Path(__file__).resolve().parent
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
KERNEL_NAME = "unbalanced-study"
PATH_PARAMETERS = ("data_root", "output_dir")
STORE_RESULTS = "runs/notebooks"  # the notebooks' default output_dir


class ConfigError(ValueError):
    """Raised for a parameter or configuration the series cannot run with."""


@dataclass
class Outcome:
    """What happened to one notebook of the run."""

    notebook: str
    status: str
    seconds: float
    error: str = ""
    output: Path | None = field(default=None)


# --------------------------------------------------------------------------- parameters


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `name=value` command-line parameter; the value is read as YAML (numbers, lists, strings)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"parameter {text!r} is not of the form name=value (for example -p epochs=10)")
    return name.strip(), yaml.safe_load(value) if value.strip() else ""


def load_config(path: str | None) -> dict[str, Any]:
    """Read a YAML mapping of parameter names to values (an empty mapping when no file is given)."""
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist")
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a mapping of parameter names to values, not {type(data).__name__}")
    return data


def notebook_parameters(notebook: Path) -> dict[str, Any]:
    """Return the parameters a notebook declares in its cell tagged `parameters`, with their defaults."""
    return {name: info["default"] for name, info in inspect(notebook).items()}


def inspect(notebook: Path) -> dict[str, dict[str, Any]]:
    """Return papermill's view of a notebook's parameters cell: name -> default (source text) and help comment."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


TYPE_NAMES = {"int": int, "float": float, "str": str, "list": list, "bool": bool, "dict": dict}


def accepted_types(info: dict[str, Any]) -> tuple[type, ...]:
    """Types a parameter accepts: its default's, or those a `# type: float | str` comment names (int and float mix)."""
    declared = info.get("inferred_type_name")
    if declared in TYPE_NAMES:  # papermill reads `# type: float`; further `| str` alternatives stay in its help text
        kinds = [TYPE_NAMES[declared]] + [TYPE_NAMES[t] for t in re.findall(r"\|\s*(\w+)", info.get("help") or "") if t in TYPE_NAMES]
    else:
        kinds = [type(ast.literal_eval(info["default"]))]
    return tuple(dict.fromkeys(k for kind in kinds for k in ((int, float) if kind in (int, float) else (kind,))))


def type_error(name: str, value: Any, info: dict[str, Any]) -> str | None:
    """Describe why `value` does not fit parameter `name` (papermill's inspection `info`), or return None when it does."""
    types = accepted_types(info)
    default_source = info["default"]
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        wanted = " or ".join(t.__name__ for t in types)
        return f"{name}={value!r} is a {type(value).__name__}, expected {wanted} (default {default_source})"
    default = ast.literal_eval(default_source)
    if isinstance(value, list) and isinstance(default, list) and default:
        item_types = (int, float) if isinstance(default[0], (int, float)) else (type(default[0]),)
        bad = [v for v in value if not isinstance(v, item_types) or isinstance(v, bool)]
        if bad:
            return f"{name}={value!r} holds {bad!r}; expected a list of {item_types[0].__name__} like {default_source}"
    return None


def parameters_for(notebook: Path, given: dict[str, Any]) -> dict[str, Any]:
    """Keep the given parameters that this notebook declares."""
    declared = notebook_parameters(notebook)
    return {k: v for k, v in given.items() if k in declared}


def notebook_variants(notebook: Path, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the parameter sets a notebook runs with: the config's, else its metadata's series.variants, else one."""
    if notebook.stem in overrides:
        variants = overrides[notebook.stem]
    else:
        variants = json.loads(notebook.read_text(encoding="utf-8"))["metadata"].get("series", {}).get("variants", [{}])
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants) or not variants:
        raise ConfigError(f"variants for {notebook.stem} must be a non-empty list of parameter mappings, got {variants!r}")
    return variants


def variant_name(notebook: Path, variant: dict[str, Any]) -> str:
    """Return the executed notebook's file name for one parameter set, e.g. 02_class_weights-positive_weight-10.ipynb."""
    suffix = "".join(f"-{k}-{v}" for k, v in variant.items())
    return f"{notebook.stem}{suffix}.ipynb"


def plan_runs(notebooks: Sequence[Path], given: dict[str, Any], overrides: dict[str, Any]) -> list[tuple[Path, str, dict[str, Any]]]:
    """List (notebook, output file name, parameters) for every execution of the run, in order."""
    plan = []
    for nb in notebooks:
        variants = notebook_variants(nb, overrides)
        for variant in variants:
            name = variant_name(nb, variant) if len(variants) > 1 or variant else nb.name
            plan.append((nb, name, parameters_for(nb, {**given, **variant})))
    return plan


def check_known(notebooks: Sequence[Path], given: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
    """Fail when a given parameter is declared by none of the notebooks (papermill alone would only warn)."""
    declared: set[str] = set()
    for nb in notebooks:
        declared |= set(notebook_parameters(nb))
    stems = {nb.stem for nb in notebooks}
    for stem, variants in (overrides or {}).items():
        if stem not in stems:
            raise ConfigError(f"variants name notebook {stem!r}, which is not in this run: {sorted(stems)}")
        given = {**given, **{k: v for variant in variants if isinstance(variant, dict) for k, v in variant.items()}}
    unknown = sorted(set(given) - declared)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; the notebooks take: {', '.join(sorted(declared))}")
    problems = []
    for nb in notebooks:
        for name, info in inspect(nb).items():
            if name in given and (problem := type_error(name, given[name], info)):
                problems.append(problem)
    if problems:
        listing = ", ".join(f"{n}={d}" for n, d in sorted({n: i["default"] for nb in notebooks for n, i in inspect(nb).items()}.items()))
        raise ConfigError("; ".join(sorted(set(problems))) + f". Valid parameters and defaults: {listing}")


def preflight_data(given: dict[str, Any]) -> None:
    """Check the data root's layout and that the split counts fit the files found, before any notebook starts."""
    import helpers

    try:
        root = helpers.data_root_or_demo(given.get("data_root", ""))
        files = helpers.find_class_files(root, given.get("classes") or None)
        negative, positive = helpers.class_roles(list(files), given.get("positive_class", "dogs"))
        counts = {negative: given.get("negative_split_counts"), positive: given.get("positive_split_counts")}
        counts = {c: v for c, v in counts.items() if v is not None}
        if counts:
            helpers.split_files(files, counts, positive, seed=0)
    except helpers.DataError as exc:
        raise ConfigError(str(exc)) from exc


# --------------------------------------------------------------------------- kernel


def install_private_kernel(folder: Path) -> None:
    """Write a kernelspec for this very Python into `folder` and put it first on JUPYTER_PATH."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH", "")]))


RESET_CODE = """
def _reset_for_next_notebook():
    import sys
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()  # layer names, graphs and the global random state start over
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
_reset_for_next_notebook()
get_ipython().run_line_magic("reset", "-f")  # clears every variable and output, then collects garbage
__import__("gc").freeze()  # what survives (modules, kept compiled models) lives for the run: later collections skip it
"""
# What every notebook imports first; a shared kernel imports it while the run is still being checked.
WARM_UP_CODE = """
for _module in ("matplotlib.pyplot", "helpers", "tensorflow", "keras"):
    __import__(_module)
del _module
__import__("gc").freeze()  # TensorFlow's objects: a full collection takes about 0.2 s with them, a few ms without
"""


@functools.cache
def prompt_client_class() -> type:
    """The kernel client papermill gets for the shared kernel: jupyter_client's readiness check, without its final wait.

    jupyter_client's wait_for_ready sends kernel_info until the shell answers and one IOPub message shows that this
    client's IOPub subscription is live; then it drains IOPub until 0.2 s pass without a message, 0.2 s before every
    notebook. nbclient reads only messages whose parent is the cell it executes, so a late status message left
    undrained is ignored; the first two checks are kept as they are.
    """
    import queue

    from jupyter_client.asynchronous import AsyncKernelClient

    class PromptClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """Return once the kernel answered kernel_info on the shell channel and this client receives IOPub."""
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.get_shell_msg(timeout=1)
                except queue.Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:
                        await self.get_iopub_msg(timeout=0.2)  # the kernel's status message: IOPub is connected
                    except queue.Empty:
                        pass  # not yet subscribed: ask again
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self.is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    return PromptClient


class SharedKernel:
    """One kernel for a whole run, so TensorFlow is imported once: before each notebook its variables, figures and
    Keras state are cleared (imported modules stay loaded); after a failed notebook it is replaced by a fresh one."""

    def __init__(self, cwd: Path) -> None:
        self.cwd, self.km = cwd, None
        self.warm_thread: threading.Thread | None = None
        self.warm_error: BaseException | None = None

    def warm_up(self) -> None:
        """Start the kernel now and, in a background thread, have it import the notebooks' heavy modules."""
        info = self.ready().get_connection_info()
        self.warm_error = None
        self.warm_thread = threading.Thread(target=self._warm_up_in_thread, args=(info,), name="kernel-warm-up", daemon=True)
        self.warm_thread.start()

    def _warm_up_in_thread(self, info: dict[str, Any]) -> None:
        """Run WARM_UP_CODE through a client of this thread's own; remember any failure for ready()."""
        try:
            asyncio.run(self._run_quietly(info, WARM_UP_CODE, timeout=300, handshake=True))
        except BaseException as exc:  # noqa: BLE001 - ready() then resets the kernel, or replaces it
            self.warm_error = exc

    def _finish_warm_up(self) -> bool:
        """Wait for a pending warm-up; True when it imported everything (the next notebook then needs no reset)."""
        thread, self.warm_thread = self.warm_thread, None
        if thread is None:
            return False
        thread.join()
        return self.warm_error is None

    def ready(self) -> Any:
        """Return a kernel manager whose kernel is alive and clean, starting or resetting one as needed."""
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        from traitlets import default

        warmed = self._finish_warm_up()
        if self.km is not None and run_sync(self.km.is_alive)():
            if warmed:
                return self.km
            try:
                run_sync(self._run_quietly)(self.km.get_connection_info(), RESET_CODE, timeout=120)
                return self.km
            except Exception:  # noqa: BLE001 - a kernel that cannot be reset is replaced
                self.close()
        class Manager(AsyncKernelManager):
            """Remembers a shutdown request: nbclient's Ctrl-C handler asks for one, even for a kernel it does not own.
            Its clients skip jupyter_client's trailing 0.2 s IOPub flush (`prompt_client_class`)."""

            stop_requested = False

            @default("client_factory")
            def _prompt_clients(self) -> type:
                return prompt_client_class()

            async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
                self.stop_requested = True
                await super().shutdown_kernel(now=now, restart=restart)

        self.km = Manager(kernel_name=KERNEL_NAME)
        run_sync(self.km.start_kernel)(cwd=str(self.cwd))
        return self.km

    @staticmethod
    async def _run_quietly(connection_info: dict[str, Any], code: str, timeout: float, handshake: bool = False) -> None:
        """Run `code` silently in the kernel and check its reply within `timeout` seconds (shell channel only).

        A kernel that was just started needs the kernel_info handshake first (handshake=True): ipykernel 7 can lose
        an execute request that arrives before it answered one, and every later client then waits in vain.
        """
        import zmq.asyncio

        kc = prompt_client_class()(context=zmq.asyncio.Context())  # its handshake: kernel_info answered, IOPub live
        kc.load_connection_info(connection_info)
        kc.start_channels(shell=True, iopub=handshake, stdin=False, hb=handshake, control=False)
        try:
            if handshake:
                await kc.wait_for_ready(timeout=60)
            msg_id = kc.execute(code, silent=True, store_history=False)
            reply = await kc.get_shell_msg(timeout=timeout)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = await kc.get_shell_msg(timeout=timeout)
        finally:
            kc.stop_channels()
            kc.context.term()
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel setup failed: {reply['content'].get('evalue')}")

    def close(self) -> None:
        """Shut the kernel down (immediately: after a failure it may still be busy)."""
        from jupyter_core.utils import run_sync

        if self.km is not None:
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self.km = None
        if self.warm_thread is not None:  # its client notices the dead kernel within seconds
            self.warm_thread.join(timeout=30)
            self.warm_thread = None


# --------------------------------------------------------------------------- execute


SAVE_EVERY_S = 2.0  # papermill writes the executing notebook before and after every cell, about 11 ms each with
# figures (2.1 s in a series at the original's settings); every 2 s keeps the hidden partial copy a live view
ENGINE_NAME = "unbalanced-sparse-saves"


@functools.cache
def register_engine() -> str:
    """Register (once) a papermill engine that writes the executing notebook at most every SAVE_EVERY_S seconds.

    The file being written is a hidden partial copy, renamed only when the notebook ends, and papermill's final write
    (after success, failure or Ctrl-C) always happens: only the intermediate writes are skipped.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class SparseSaves(NotebookExecutionManager):
        """Skips a write when the last one is under SAVE_EVERY_S seconds old, unless the notebook has ended."""

        def save(self, **kwargs: Any) -> None:
            if self.end_time is None and (self.now() - self.last_save_time).total_seconds() < SAVE_EVERY_S:
                return
            super().save(**kwargs)

    class SparseSavesEngine(NBClientEngine):
        """papermill's nbclient engine with SparseSaves in place of its execution manager."""

        @classmethod
        def execute_notebook(  # papermill's Engine.execute_notebook, with the manager swapped
            cls, nb: Any, kernel_name: str, output_path: str | None = None, progress_bar: bool = True,
            log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any,
        ) -> Any:  # fmt: skip
            nb_man = SparseSaves(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                 autosave_cell_every=autosave_cell_every)  # fmt: skip
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, SparseSavesEngine)
    return ENGINE_NAME


def failed_copy(output: Path) -> Path:
    """Where the executed copy of a failed notebook is kept: beside, never over, an earlier complete one."""
    return output.with_name(f"{output.stem}.failed.ipynb")


def execute(
    notebook: Path, output: Path, parameters: dict[str, Any] | None, log_output: bool, timeout: float | None, km: Any = None
) -> None:
    """Execute one notebook into `output` through a hidden temporary file renamed only when it completes.

    A failing notebook's executed copy, error included, is kept as <name>.failed.ipynb; an interrupted one is deleted.
    """
    import papermill

    partial = output.with_name(f".{output.stem}.partial.ipynb")
    try:
        papermill.execute_notebook(
            str(notebook),
            str(partial),
            parameters=parameters or None,
            kernel_name=KERNEL_NAME,
            cwd=str(notebook.parent),
            log_output=log_output,
            progress_bar=True,
            execution_timeout=timeout,
            engine_name=register_engine(),
            km=km,  # None: papermill starts a fresh kernel
        )
    except Exception as exc:
        if getattr(exc, "ename", None) == "KeyboardInterrupt" or getattr(km, "stop_requested", False):  # Ctrl-C
            partial.unlink(missing_ok=True)
            raise KeyboardInterrupt from exc
        if partial.exists():
            os.replace(partial, failed_copy(output))
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: leave nothing half-written
        partial.unlink(missing_ok=True)
        raise
    if getattr(km, "stop_requested", False):  # Ctrl-C during a notebook in the shared kernel
        partial.unlink(missing_ok=True)
        raise KeyboardInterrupt
    os.replace(partial, output)
    failed_copy(output).unlink(missing_ok=True)


def already_complete(output: Path, parameters: dict[str, Any]) -> bool:
    """True when `output` is a completed execution of this notebook with exactly these parameters."""
    if not output.is_file():
        return False
    try:
        meta = json.loads(output.read_text(encoding="utf-8"))["metadata"].get("papermill", {})
    except (OSError, ValueError, KeyError):
        return False
    return meta.get("exception") is None and meta.get("end_time") is not None and meta.get("parameters", {}) == parameters


def describe_failure(exc: BaseException) -> str:
    """Return a one-line description of a failed notebook: the failing cell and its error."""
    import papermill

    if isinstance(exc, papermill.PapermillExecutionError):
        return f"cell In [{exc.exec_count}] raised {exc.ename}: {exc.evalue}"
    return f"{type(exc).__name__}: {exc}"


def run_series(
    plan: Sequence[tuple[Path, str, dict[str, Any]]],
    out: Path | None,
    log_output: bool = False,
    timeout: float | None = None,
    fail_fast: bool = False,
    resume: bool = False,
    kernel: SharedKernel | None = None,
) -> list[Outcome]:
    """Execute each planned notebook in order, inside `kernel_session`; with `out` None, store them in place.

    With the session's shared `kernel`, one kernel serves the whole run (reset before each notebook, replaced after a
    failure); with None, each notebook gets a fresh kernel. Stored notebooks run with their defaults.
    """
    outcomes: list[Outcome] = []
    if out is not None:
        for stale in out.glob(".*.partial.ipynb"):  # left by a run that was killed outright
            stale.unlink()
    _run_plan(plan, out, log_output, timeout, fail_fast, resume, kernel, outcomes)
    return outcomes


@contextlib.contextmanager
def kernel_session(shared_kernel: bool) -> Iterator[SharedKernel | None]:
    """Install this Python's kernelspec for the run; with shared_kernel, start and warm up the run's kernel at once."""
    with tempfile.TemporaryDirectory(prefix="unbalanced-kernel-") as kernel_dir:
        install_private_kernel(Path(kernel_dir))
        kernel = SharedKernel(NOTEBOOK_DIR) if shared_kernel else None
        try:
            if kernel is not None:
                kernel.warm_up()
            yield kernel
        finally:
            if kernel is not None:
                kernel.close()


def _run_plan(
    plan: Sequence[tuple[Path, str, dict[str, Any]]],
    out: Path | None,
    log_output: bool,
    timeout: float | None,
    fail_fast: bool,
    resume: bool,
    kernel: SharedKernel | None,
    outcomes: list[Outcome],
) -> None:
    """The loop of run_series: execute, record and report each notebook."""
    for i, (nb, name, parameters) in enumerate(plan, 1):
        target = nb if out is None else out / name
        if resume and out is not None and already_complete(target, parameters):
            print(f"[{i}/{len(plan)}] {name}: complete with these parameters, skipped", flush=True)
            outcomes.append(Outcome(name, "skipped", 0.0, "already complete", target))
            continue
        print(f"[{i}/{len(plan)}] {name} -> {target}", flush=True)
        start = time.monotonic()
        try:
            km = kernel.ready() if kernel is not None else None
            execute(nb, target, None if out is None else parameters, log_output, timeout, km)
        except KeyboardInterrupt:
            outcomes.append(Outcome(name, "interrupted", time.monotonic() - start, "stopped by the user; nothing written"))
            break
        except Exception as exc:  # noqa: BLE001 - every failure is reported by name and the run exits non-zero
            if kernel is not None:
                kernel.close()  # the next notebook gets a fresh kernel, whatever state this one left
            kept = failed_copy(target)
            outcomes.append(Outcome(name, "failed", time.monotonic() - start, describe_failure(exc), kept))
            print(f"[{i}/{len(plan)}] {name} FAILED: {outcomes[-1].error} (executed copy: {kept})", file=sys.stderr, flush=True)
            if fail_fast:
                break
            continue
        outcomes.append(Outcome(name, "passed", time.monotonic() - start, output=target))


def summary(outcomes: Sequence[Outcome]) -> str:
    """Format a table of each notebook's status, time and error."""
    lines = [f"{'notebook':40} {'status':7} {'seconds':>8}  error"]
    lines += [f"{o.notebook:40} {o.status:7} {o.seconds:8.1f}  {o.error}" for o in outcomes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="folder holding train/<class>/<images>; default: the built-in synthetic demo data")
    p.add_argument("--config", help="YAML file mapping parameter names to values")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="set one parameter (repeatable)")
    p.add_argument("--out", help="run folder for executed notebooks and results (default: runs/demo or runs/<data root name>)")
    p.add_argument("--notebooks", nargs="*", help="notebook names or globs inside notebooks/ (default: all, in name order)")
    p.add_argument("--log-output", action="store_true", help="stream each cell's output to the terminal")
    p.add_argument("--cell-timeout", type=float, default=None, help="seconds one cell may run before the notebook fails")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook (default: run the rest)")
    p.add_argument("--resume", action="store_true", help="skip notebooks already complete in --out with the same parameters")
    p.add_argument(
        "--shared-kernel",
        action="store_true",
        help="run every notebook in one kernel, reset before each (faster; Ctrl-C is only guaranteed without it)",
    )
    p.add_argument(
        "--store", action="store_true", help="execute the notebooks in place with their default parameters (maintainers)"
    )
    return p


def select_notebooks(patterns: Sequence[str] | None) -> list[Path]:
    """Return the notebooks to run, in name order."""
    found = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
    if patterns:
        found = sorted({nb for pat in patterns for nb in NOTEBOOK_DIR.glob(pat if pat.endswith(".ipynb") else f"{pat}*.ipynb")})
    if not found:
        raise ConfigError(f"no notebooks match {list(patterns or [])} in {NOTEBOOK_DIR}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the series, print a summary; return the exit status."""
    args = build_parser().parse_args(argv)
    shared = args.shared_kernel and not args.store  # stored notebooks always come from fresh kernels
    with kernel_session(shared) as kernel:  # a shared kernel imports TensorFlow while the run is being checked
        try:
            notebooks = select_notebooks(args.notebooks)
            given = load_config(args.config)
            overrides = given.pop("variants", None) or {}
            given.update(parse_assignment(a) for a in args.param)
            if args.data_root is not None:
                given["data_root"] = args.data_root
            for name in PATH_PARAMETERS:
                if given.get(name):
                    given[name] = str(Path(given[name]).expanduser().resolve())
            out = None
            if not args.store:
                default_out = f"runs/{Path(given['data_root']).name}" if given.get("data_root") else "runs/demo"
                out = Path(args.out or default_out).expanduser().resolve()
                out.mkdir(parents=True, exist_ok=True)
                given["output_dir"] = str(out)
                check_known(notebooks, given, overrides)
                preflight_data(given)
                plan = plan_runs(notebooks, given, overrides)
            elif given or overrides:
                raise ConfigError("--store executes the notebooks with their defaults; give no parameters with it")
            else:
                shutil.rmtree(PROJECT_ROOT / STORE_RESULTS, ignore_errors=True)  # the stored summary reads only fresh results
                plan = [(nb, nb.name, {}) for nb in notebooks]
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        outcomes = run_series(plan, out, args.log_output, args.cell_timeout, args.fail_fast, args.resume, kernel)
    print(summary(outcomes))
    if out is not None:
        print(f"run folder: {out}")
    if any(o.status == "interrupted" for o in outcomes):
        return 130
    failed = [o for o in outcomes if o.status not in ("passed", "skipped")]
    return 1 if failed or len(outcomes) < len(plan) else 0


if __name__ == "__main__":
    sys.exit(main())
