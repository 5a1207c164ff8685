"""One run per folder: ``handgrad train`` holds a lock on its run folder for the whole run.

Two processes writing one folder would interleave their files (the model of one run beside the
checkpoint of another) and each would take the other's temporary files for a crash's leftovers.
The lock is an advisory ``flock`` (the ``filelock`` package) on ``RUN/.handgrad.lock``: the kernel
releases it when its process ends, however it ends, so a killed run never leaves the folder locked.
Beside it, ``RUN/.handgrad.owner`` says which process holds it, for the message the next one shows.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from handgrad.errors import RunFolderError

LOCK_NAME = ".handgrad.lock"
OWNER_NAME = ".handgrad.owner"
# The files a run writes; a fresh run removes the previous run's, so a folder never holds the
# model of one run beside the checkpoint of another.
RUN_FILES = ("model.safetensors", "metrics.json", "loss_curve.png", "confusion.png",
             "checkpoint.safetensors")


class RunFolder:
    """``with RunFolder(path):`` holds the folder's lock or raises RunFolderError at once."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = None

    def __enter__(self) -> "RunFolder":
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} is a file, not a folder; choose "
                                 "another --name or --runs-dir")
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path / LOCK_NAME, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunFolderError(f"run folder {self.path} is in use by another run "
                                 f"({self.owner()}); wait for it to finish, or give another "
                                 "--name") from None
        self._lock = lock
        owner = (f"handgrad train, process {os.getpid()} on {socket.gethostname()}, started "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        (self.path / OWNER_NAME).write_text(owner + "\n")
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            (self.path / OWNER_NAME).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def owner(self) -> str:
        try:
            text = (self.path / OWNER_NAME).read_text().strip()
        except OSError:
            text = ""
        return text or "a process that has not yet said who it is"

    def clear(self, names=RUN_FILES) -> list[str]:
        """Delete the given run files (the lock is held: no one else is writing them)."""
        removed = []
        for name in names:
            path = self.path / name
            if path.exists():
                path.unlink()
                removed.append(name)
        return removed
