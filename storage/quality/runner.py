"""Running the check beside the recorder without getting in its way.

The check of a 30-minute clip takes a few minutes of one core. It runs in its own process
(``python -m storage.quality``), at the lowest CPU priority (``nice`` 19) and on one thread for
every library that would otherwise start one per core (OpenCV, the H.264 decoder, BLAS), so the
recorder of the next sale keeps both cores whenever it needs them. ``start_quality_check``
returns at once; ``run_quality_check`` waits for the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storage.quality.policy import ManifestFacts, QualityPolicy
from storage.quality.report import QualityReport

LOWEST_PRIORITY = 19
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class QualityCheckFailed(RuntimeError):
    """The check process could not produce a report (unreadable input, crash, timeout, cancel)."""


def quiet_process(niceness: int = LOWEST_PRIORITY, threads: int = 1) -> None:
    """Make the calling process polite: lower its priority and bound its libraries' threads."""
    if niceness > 0:
        os.nice(niceness)
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(threads)


class QualityCheckProcess:
    """A check running in a child process; ``wait`` or ``poll`` for its ``QualityReport``."""

    def __init__(self, popen: subprocess.Popen[bytes], clip: Path) -> None:
        self._popen = popen
        self.clip = clip
        self._report: QualityReport | None = None

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self) -> QualityReport | None:
        if self._report is None and self._popen.poll() is not None:
            return self.wait()
        return self._report

    def wait(self, timeout_s: float | None = None) -> QualityReport:
        if self._report is not None:
            return self._report
        try:
            out, err = self._popen.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.cancel()
            raise QualityCheckFailed(f"quality check of {self.clip.name} took longer than {timeout_s} s") from exc
        if self._popen.returncode != 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise QualityCheckFailed(
                f"quality check of {self.clip.name} failed (exit {self._popen.returncode}): {detail[0]}"
            )
        self._report = QualityReport.model_validate_json(out)
        return self._report

    def cancel(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.communicate()


def start_quality_check(
    clip: str | Path,
    policy: QualityPolicy | None = None,
    facts: ManifestFacts | None = None,
    *,
    niceness: int = LOWEST_PRIORITY,
    threads: int = 1,
) -> QualityCheckProcess:
    """Start checking ``clip`` in a low-priority child process and return at once."""
    path = Path(clip)
    request = {
        "clip": str(path.resolve()),
        "policy": (policy or QualityPolicy()).model_dump(mode="json"),
        "facts": (facts or ManifestFacts()).model_dump(mode="json"),
        "niceness": niceness,
        "threads": threads,
    }
    env = dict(os.environ, **{name: str(threads) for name in _THREAD_VARIABLES})
    popen = subprocess.Popen(
        [sys.executable, "-m", "storage.quality", "--request", json.dumps(request)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    return QualityCheckProcess(popen, path)


def run_quality_check(
    clip: str | Path,
    policy: QualityPolicy | None = None,
    facts: ManifestFacts | None = None,
    *,
    niceness: int = LOWEST_PRIORITY,
    threads: int = 1,
    timeout_s: float | None = None,
) -> QualityReport:
    """Check ``clip`` in a low-priority child process and wait for its report."""
    return start_quality_check(clip, policy, facts, niceness=niceness, threads=threads).wait(timeout_s)
