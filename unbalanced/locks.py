"""One writer at a time: a folder (a run folder, an image-cache entry) is owned by one process while it writes.

A lock is an advisory `flock` on a file in the folder, which the operating system releases when its process ends,
however it ends. The file also names its owner (process, host, start time, command), so a second process is told
who holds the folder, and a process that finds the name of an owner that ended without releasing it (killed) says
it is taking the folder over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TextIO

LOCK_NAME = ".owner.lock"


class FolderInUse(RuntimeError):
    """Raised when another live process owns the folder."""


@dataclass(frozen=True)
class Owner:
    """Who holds (or last held) a folder."""

    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        """'process 123 on host h, started 2026-11-29 16:02:11: python run_series.py ...'."""
        return f"process {self.pid} on host {self.host}, started {self.started}: {self.command}"


def _me() -> Owner:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)) or "python"
    return Owner(os.getpid(), socket.gethostname(), dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"), command[:300])


def _read_owner(path: Path) -> Owner | None:
    try:
        return Owner(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


class Lock:
    """A held folder: release() lets the next owner in (so does the end of this process)."""

    def __init__(self, handle: TextIO) -> None:
        self.handle: TextIO | None = handle

    def release(self) -> None:
        """Clear the owner's name (a clean end leaves none behind) and release the folder."""
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.flush()
            self.handle.close()
            self.handle = None


def acquire(folder: Path, what: str, wait_s: float = 0.0, say: Callable[[str], None] = print) -> Lock:
    """Own `folder`. Another live owner: wait up to `wait_s` seconds, then raise FolderInUse naming it and what to do.
    An owner that ended without releasing the folder: take it over and say so."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open while owned: the lock lives with it
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                owner = _read_owner(path)
                for _ in range(20):  # the holder writes its name just after taking the lock: give it a second to
                    if owner:
                        break
                    time.sleep(0.05)
                    owner = _read_owner(path)
                who = owner.describe() if owner else "another process that is still starting"
                raise FolderInUse(f"{what} {folder} is in use by {who}. Wait for it to finish, or choose another folder.") from None
            time.sleep(0.2)
    previous = _read_owner(path)
    if previous is not None and previous.pid != os.getpid():
        say(f"{what} {folder}: taking it over from {previous.describe()}, which ended without releasing it")
    handle.seek(0)
    handle.truncate()
    json.dump(_me().__dict__, handle)
    handle.flush()
    return Lock(handle)


@contextlib.contextmanager
def owned(folder: Path, what: str, wait_s: float = 0.0, say: Callable[[str], None] = print) -> Iterator[None]:
    """Own `folder` for the length of the block (see `acquire`)."""
    lock = acquire(folder, what, wait_s, say)
    try:
        yield
    finally:
        lock.release()
