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
    # The loopback address SIPp sends from; another one (127.0.0.2) plays a second host on the LAN.
    local_ip: str = "127.0.0.1"


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
        return (
            f"sipp exit {self.returncode}\n--- output ---\n{self.output[-3000:]}\n--- errors ---\n{self.errors[-3000:]}"
        )


async def run_sipp(
    scenario: str,
    camera: SippCamera,
    port: int,
    workdir: Path,
    timeout_s: float = 30.0,
    ooc: str | None = None,
    keys: dict[str, str] | None = None,
) -> SippResult:
    return await (await start_sipp(scenario, camera, port, workdir, timeout_s, ooc, keys)).finish()


class SippProcess:
    """A running SIPp; ``finish`` waits for it (bounded by its own -timeout) and reads its logs."""

    def __init__(
        self, process: asyncio.subprocess.Process, error_file: Path, log_file: Path, message_file: Path
    ) -> None:
        self.process = process
        self._error_file = error_file
        self._log_file = log_file
        self._message_file = message_file

    async def finish(self) -> SippResult:
        out, _ = await self.process.communicate()
        errors = self._error_file.read_text(errors="replace") if self._error_file.exists() else ""
        log = self._log_file.read_text(errors="replace") if self._log_file.exists() else ""
        assert self.process.returncode is not None
        return SippResult(self.process.returncode, out.decode(errors="replace"), errors, log)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()

    @property
    def messages(self) -> str:
        """Every message SIPp sent and received (-trace_msg), for failure reports."""
        return self._message_file.read_text(errors="replace") if self._message_file.exists() else ""


async def start_sipp(
    scenario: str,
    camera: SippCamera,
    port: int,
    workdir: Path,
    timeout_s: float = 30.0,
    ooc: str | None = None,
    keys: dict[str, str] | None = None,
) -> SippProcess:
    """Start SIPp as the camera. ``ooc`` is the out-of-call scenario that answers requests the
    platform originates (SIPp maps messages to calls by Call-ID, and the platform picks its own)."""
    if SIPP is None:
        raise RuntimeError(MISSING_REASON)
    stem = f"{scenario}-{camera.transport}-{camera.local_ip}"
    error_file = workdir / f"{stem}-errors.log"
    log_file = workdir / f"{stem}-actions.log"
    message_file = workdir / f"{stem}-messages.log"
    args = [
        SIPP,
        f"127.0.0.1:{port}",
        "-sf",
        str(SCENARIOS / f"{scenario}.xml"),
        "-t",
        {"udp": "u1", "tcp": "t1"}[camera.transport],
        "-i",
        camera.local_ip,
        "-s",
        camera.server_id,
        "-key",
        "domain",
        camera.domain,
        "-key",
        "device",
        camera.device_id,
        "-au",
        camera.device_id,
        "-ap",
        camera.password,
        "-m",
        "1",
        "-nostdin",
        # SIPp's own deadline, so a platform that never answers fails the test instead of hanging it.
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(error_file),
        "-trace_logs",
        "-log_file",
        str(log_file),
        "-trace_msg",
        "-message_file",
        str(message_file),
    ]
    if ooc is not None:
        args += ["-oocsf", str(SCENARIOS / f"{ooc}.xml")]
    for name, value in (keys or {}).items():
        args += ["-key", name, value]
    process = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    return SippProcess(process, error_file, log_file, message_file)
