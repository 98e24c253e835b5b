"""One upload run at a time per branch, whoever starts it: the schedule, "upload now", or the CLI.

Two runs at once would not corrupt anything (registration is idempotent and the center answers which
parts it holds), but they would send the same parts twice over a slow WAN and interleave the clips'
state changes. So a run takes this lock without waiting, and a second caller is told at once that an
upload is already running rather than queued behind it.

Within one process a thread lock decides. With a lock file (the agent's data directory) the lock also
holds across processes, so `python -m branch_agent upload run` cannot race the serving agent; the
kernel drops a file lock when its process dies, so a killed run never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UploadAlreadyRunning(RuntimeError):
    """Another upload run holds the lock; this caller's run did not start."""

    def __init__(self) -> None:
        super().__init__("上传正在进行，请稍后再试 / an upload is already running, try again later")


class RunLock:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._thread_lock = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether this process is running an upload now (not probed across processes: a probe would
        itself hold the file lock for a moment and could turn a starting run away)."""
        return self._thread_lock.locked()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Held for the body; raises UploadAlreadyRunning at once if another run has it."""
        if not self._thread_lock.acquire(blocking=False):
            raise UploadAlreadyRunning()
        try:
            fd = None
            if self.path is not None:
                fd = self._try_lock_file()
                if fd is None:
                    raise UploadAlreadyRunning()
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)
        finally:
            self._thread_lock.release()

    def _try_lock_file(self) -> int | None:
        """An open descriptor holding the file lock, or None when another holder has it."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd
