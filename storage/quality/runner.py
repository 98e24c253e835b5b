"""Running the check beside the recorder without getting in its way.

The check of a 30-minute clip takes a few minutes of one core. It runs in its own process
(``python -m storage.quality``), at the lowest CPU priority (``nice`` 19 and, on Linux, the idle
scheduling class, set before the libraries are even loaded) and on one thread for
every library that would otherwise start one per core (OpenCV, the H.264 decoder, BLAS), so the
recorder of the next sale keeps both cores whenever it needs them; ``pause`` and ``resume`` hold
it still entirely while a sale is being recorded. ``start_quality_check`` returns at once;
``run_quality_check`` waits for the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from storage.quality.policy import ManifestFacts, QualityPolicy
from storage.quality.report import QualityReport

LOWEST_PRIORITY = 19
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


_BOOTSTRAP = """import os, sys
os.nice({niceness})
if {idle} and hasattr(os, "SCHED_IDLE"):
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass
from storage.quality.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


class QualityCheckFailed(RuntimeError):
    """The check process could not produce a report (unreadable input, crash, timeout, cancel)."""


def lower_priority(niceness: int = LOWEST_PRIORITY) -> None:
    """Lower the calling process's CPU priority: ``nice``, and on Linux the idle scheduling class,
    which only runs it on CPU time that nothing else wants."""
    if niceness <= 0:
        return
    current = os.nice(0)
    if current < niceness:
        os.nice(niceness - current)
    if niceness >= LOWEST_PRIORITY and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):  # not allowed here: nice alone
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def quiet_process(niceness: int = LOWEST_PRIORITY, threads: int = 1) -> None:
    """Make the calling process polite: lower its priority and bound its libraries' threads."""
    lower_priority(niceness)
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

    def pause(self) -> None:
        """Stop the check where it is (SIGSTOP), e.g. while the counter records the next sale: even
        at the lowest priority its decoding and detection share the cores' caches and memory with
        the recorder's encoder. ``resume`` carries on from there."""
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGCONT)

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
    # The priority is lowered before anything is imported: loading the libraries is work too.
    bootstrap = _BOOTSTRAP.format(niceness=max(0, int(niceness)), idle=niceness >= LOWEST_PRIORITY)
    popen = subprocess.Popen(
        [sys.executable, "-c", bootstrap, "--request", json.dumps(request)],
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
