"""SIPp (Debian ``sip-tester``) playing a GB/T 28181 camera from the XML scenarios in ``sipp/``.

SIPp is a real SIP stack that is not ours: its digest answers, retransmissions and TCP framing
are what a third-party camera would send. A scenario fails (non-zero exit) when any expected
answer does not come or a header check in it fails; the error log says which.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp")
MISSING_REASON = "sipp not installed (Debian package sip-tester; scripts/sysdeps.sh installs it)"


@dataclass(frozen=True)
class SippCamera:
    device_id: str
    server_id: str
    domain: str
    password: str
    transport: str = "udp"  # or "tcp"


@dataclass(frozen=True)
class SippResult:
    returncode: int
    output: str
    errors: str
    # What the scenarios' <log> actions wrote (-trace_logs), e.g. the Date the platform sent.
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def explain(self) -> str:
        return f"sipp exit {self.returncode}\n--- output ---\n{self.output[-3000:]}\n--- errors ---\n{self.errors[-3000:]}"


async def run_sipp(
    scenario: str, camera: SippCamera, port: int, workdir: Path, timeout_s: float = 30.0
) -> SippResult:
    if SIPP is None:
        raise RuntimeError(MISSING_REASON)
    error_file = workdir / f"{scenario}-{camera.transport}-errors.log"
    log_file = workdir / f"{scenario}-{camera.transport}-actions.log"
    args = [
        SIPP, f"127.0.0.1:{port}",
        "-sf", str(SCENARIOS / f"{scenario}.xml"),
        "-t", {"udp": "u1", "tcp": "t1"}[camera.transport],
        "-i", "127.0.0.1",
        "-s", camera.server_id,
        "-key", "domain", camera.domain,
        "-key", "device", camera.device_id,
        "-au", camera.device_id,
        "-ap", camera.password,
        "-m", "1",
        "-nostdin",
        # SIPp's own deadline, so a platform that never answers fails the test instead of hanging it.
        "-timeout", f"{int(timeout_s)}s", "-timeout_error",
        "-trace_err", "-error_file", str(error_file),
        "-trace_logs", "-log_file", str(log_file),
    ]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    assert process.returncode is not None
    return SippResult(process.returncode, out.decode(errors="replace"), errors, log)
