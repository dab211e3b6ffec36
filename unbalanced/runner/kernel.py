"""The kernel the notebooks run in: this very Python, registered for the run under a private kernelspec."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from ..locks import owned
from ..study import RUN_LOCK_ENV

KERNEL_NAME = "unbalanced-study"


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


SOCKETS_ENV = "UNBALANCED_KERNEL_SOCKETS"  # where the run's kernels put their local sockets


@contextlib.contextmanager
def kernel_session() -> Iterator[None]:
    """For the length of a run: this Python's kernelspec (so papermill's `kernel_name` resolves) and a private folder
    for the kernels' local sockets, removed with everything in it when the run ends."""
    with tempfile.TemporaryDirectory(prefix="unbalanced-kernel-") as kernel_dir:
        saved = os.environ.get("JUPYTER_PATH")
        install_private_kernel(Path(kernel_dir))
        os.environ[SOCKETS_ENV] = str(Path(kernel_dir) / "sockets")
        try:
            yield
        finally:
            os.environ.pop(SOCKETS_ENV, None)
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved


def socket_prefix() -> str:
    """The path prefix of a new kernel's local sockets: inside the run's private folder."""
    folder = Path(os.environ.get(SOCKETS_ENV) or tempfile.mkdtemp(prefix="unbalanced-sockets-"))
    folder.mkdir(parents=True, exist_ok=True)
    return str(Path(tempfile.mkdtemp(dir=folder)) / "kernel")


@contextlib.contextmanager
def run_folder_owned(folder: Path) -> Iterator[None]:
    """Own the run folder for the whole run (a second run into it stops at once, naming this one); the notebooks'
    kernels, which inherit the environment, know that their runner holds it."""
    with owned(folder, "run folder", say=lambda text: print(text, flush=True)):
        saved = os.environ.get(RUN_LOCK_ENV)
        os.environ[RUN_LOCK_ENV] = str(folder)
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop(RUN_LOCK_ENV, None)
            else:
                os.environ[RUN_LOCK_ENV] = saved


@contextlib.contextmanager
def progress_relayed(folder: Path) -> Iterator[None]:
    """Print the progress lines the notebooks' kernels append to a file in the run folder, as they come, so that
    the terminal shows each training as it finishes while the notebooks stay free of them."""
    import threading
    import time

    from ..runtime import PROGRESS_ENV

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".progress.log"
    path.write_text("", encoding="utf-8")
    saved, done = os.environ.get(PROGRESS_ENV), threading.Event()
    os.environ[PROGRESS_ENV] = str(path)

    def relay() -> None:
        pending = ""  # a line the kernel is still writing
        with open(path, encoding="utf-8") as f:
            while True:
                pending += f.readline()
                if pending.endswith("\n"):
                    print(pending.rstrip("\n"), flush=True)
                    pending = ""
                elif done.is_set():
                    return
                else:
                    time.sleep(0.2)

    thread = threading.Thread(target=relay, daemon=True, name="progress relay")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
        path.unlink(missing_ok=True)
        if saved is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = saved
