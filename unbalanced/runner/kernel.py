"""The kernel the notebooks run in: this very Python, registered for the run under a private kernelspec."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

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


@contextlib.contextmanager
def kernel_session() -> Iterator[None]:
    """Make this Python's kernelspec available to papermill for the length of a run (so `kernel_name` resolves)."""
    with tempfile.TemporaryDirectory(prefix="unbalanced-kernel-") as kernel_dir:
        saved = os.environ.get("JUPYTER_PATH")
        install_private_kernel(Path(kernel_dir))
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved
