"""Executing the plan: each notebook in a fresh kernel, written only when it completes, Ctrl-C honoured everywhere.

papermill runs in a worker thread so that the main thread keeps Python's own Ctrl-C handling: nbclient replaces
SIGINT with a handler that only shuts its kernel down (the notebook could then even finish and be written), and it
only does so in the main thread. Here a Ctrl-C always reaches the main thread as KeyboardInterrupt; the kernel is
killed, the half-written copy deleted, and the run ends with exit status 130 wherever the signal landed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .kernel import KERNEL_NAME, socket_prefix
from .plan import Planned


class _KnownSettings(logging.Filter):
    """The study's settings reach a notebook by injection though its parameters cell leaves them out (runner/params.py
    has checked every name against what the notebook takes): papermill's warning for each would only be noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Passed unknown parameter")


logging.getLogger("papermill").addFilter(_KnownSettings())

STOP_WAIT_S = 30.0  # how long an interrupted notebook's thread may take to notice its dead kernel


@dataclass
class Outcome:
    """What happened to one notebook of the run."""

    notebook: str
    status: str
    seconds: float
    error: str = ""
    output: Path | None = field(default=None)


def failed_copy(output: Path) -> Path:
    """Where the executed copy of a failed notebook is kept: beside, never over, an earlier complete one."""
    return output.with_name(f"{output.stem}.failed.ipynb")


def partial_copy(output: Path) -> Path:
    """The hidden file a notebook is executed into; renamed to `output` only when the notebook completes."""
    return output.with_name(f".{output.stem}.partial.ipynb")


def _kill_kernel(km: Any) -> None:
    """Kill the kernel's process group if it has started (a plain signal: safe from any thread)."""
    provisioner = getattr(km, "provisioner", None)
    pgid, pid = getattr(provisioner, "pgid", None), getattr(provisioner, "pid", None)
    try:
        if pgid:
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _papermill(notebook: Path, partial: Path, parameters: dict[str, Any] | None, log_output: bool,
               timeout: float | None, km: Any, errors: list[BaseException]) -> None:  # fmt: skip
    """Execute one notebook with papermill in this thread, then shut its kernel down; record any exception."""
    import papermill
    from jupyter_core.utils import run_sync

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
            km=km,
        )
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)
    finally:
        try:
            if run_sync(km.is_alive)():
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - already gone
            _kill_kernel(km)


def execute(notebook: Path, output: Path, parameters: dict[str, Any] | None, log_output: bool, timeout: float | None) -> None:
    """Execute one notebook into `output` through a hidden temporary file renamed only when it completes.

    A failing notebook's executed copy, error included, is kept as <name>.failed.ipynb. On Ctrl-C the kernel is
    killed, nothing is written and KeyboardInterrupt propagates.
    """
    from jupyter_client.manager import AsyncKernelManager

    partial = partial_copy(output)
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=socket_prefix())  # local sockets, no TCP ports
    errors: list[BaseException] = []
    worker = threading.Thread(target=_papermill, args=(notebook, partial, parameters, log_output, timeout, km, errors),
                              name=f"notebook-{notebook.stem}", daemon=True)  # fmt: skip
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        deadline = time.monotonic() + STOP_WAIT_S
        while worker.is_alive() and time.monotonic() < deadline:
            _kill_kernel(km)  # again if the kernel was still starting when the signal came
            worker.join(0.2)
        partial.unlink(missing_ok=True)
        raise
    if errors:
        if partial.exists():
            os.replace(partial, failed_copy(output))
        raise errors[0]
    forget_stored_records(partial)
    os.replace(partial, output)
    failed_copy(output).unlink(missing_ok=True)


def forget_stored_records(executed: Path) -> None:
    """Drop the stored records a source notebook names from its executed copy: this execution read its run folder's
    records, not those (storing names them again, run_series.mark_stored)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if nb.metadata.pop("stored_records", None) is not None:
        nbformat.write(nb, executed)


WHERE_ONLY = ("scheduler", "workers")  # say where trainings run, not what they compute: a resumed run may use another


def already_complete(output: Path, parameters: dict[str, Any]) -> bool:
    """True when `output` is a completed execution of this notebook with these parameters (where it ran aside)."""
    if not output.is_file():
        return False
    try:
        meta = json.loads(output.read_text(encoding="utf-8"))["metadata"].get("papermill", {})
    except (OSError, ValueError, KeyError):
        return False
    same = {k: v for k, v in meta.get("parameters", {}).items() if k not in WHERE_ONLY} == {
        k: v for k, v in parameters.items() if k not in WHERE_ONLY}  # fmt: skip
    return meta.get("exception") is None and meta.get("end_time") is not None and same


def describe_failure(exc: BaseException) -> str:
    """Return a one-line description of a failed notebook: the failing cell and its error."""
    import papermill

    if isinstance(exc, papermill.PapermillExecutionError):
        return f"cell In [{exc.exec_count}] raised {exc.ename}: {exc.evalue}"
    return f"{type(exc).__name__}: {exc}"


def run_series(
    plan: Sequence[Planned],
    out: Path | None,
    log_output: bool = False,
    timeout: float | None = None,
    fail_fast: bool = False,
    resume: bool = False,
) -> list[Outcome]:
    """Execute each planned notebook in order, each in a fresh kernel; with `out` None, store them in place.

    A Ctrl-C, wherever it lands, ends the loop: the notebook it came during is recorded as interrupted and no later
    one starts.
    """
    outcomes: list[Outcome] = []
    if out is not None:
        for stale in out.glob(".*.partial.ipynb"):  # left by a run that was killed outright
            stale.unlink()
    for i, step in enumerate(plan, 1):
        start = time.monotonic()
        try:
            outcome = _run_step(f"[{i}/{len(plan)}]", step, out, log_output, timeout, resume)
        except KeyboardInterrupt:
            # execute() removed its hidden copy; a papermill thread still closing down can write it once more (seen in
            # about one Ctrl-C test in eight), so it is removed again once that thread has had time to end.
            time.sleep(0.5)
            partial_copy(step.notebook if out is None else out / step.name).unlink(missing_ok=True)
            outcomes.append(Outcome(step.name, "interrupted", time.monotonic() - start, "stopped by the user; nothing written"))
            break
        outcomes.append(outcome)
        if outcome.status == "failed" and fail_fast:
            break
    return outcomes


def _run_step(counter: str, step: Planned, out: Path | None, log_output: bool, timeout: float | None, resume: bool) -> Outcome:
    """Execute (or, resuming, skip) one planned notebook and say what happened; failures are reported, not raised."""
    target = step.notebook if out is None else out / step.name
    if resume and out is not None and already_complete(target, step.parameters):
        print(f"{counter} {step.name}: complete with these parameters, skipped", flush=True)
        return Outcome(step.name, "skipped", 0.0, "already complete", target)
    print(f"{counter} {step.name} -> {target}", flush=True)
    start = time.monotonic()
    try:
        execute(step.notebook, target, step.parameters or None, log_output, timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is reported by name and the run exits non-zero
        kept = failed_copy(target)
        outcome = Outcome(step.name, "failed", time.monotonic() - start, describe_failure(exc), kept)
        print(f"{counter} {step.name} FAILED: {outcome.error} (executed copy: {kept})", file=sys.stderr, flush=True)
        return outcome
    return Outcome(step.name, "passed", time.monotonic() - start, output=target)


def summary(outcomes: Sequence[Outcome]) -> str:
    """Format a table of each notebook's status, time and error."""
    lines = [f"{'notebook':40} {'status':11} {'seconds':>8}  error"]
    lines += [f"{o.notebook:40} {o.status:11} {o.seconds:8.1f}  {o.error}" for o in outcomes]
    return "\n".join(lines)
