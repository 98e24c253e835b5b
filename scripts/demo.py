"""Runs the whole system on embedded defaults: SeaweedFS, the center, one branch with simulated cameras.

`make demo` calls this. It seeds a demo catalogue, branch, staff and users on first run, prints the
URLs and logins, and stops every process on Ctrl-C. The end-to-end tests use the same functions.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from branch_agent.config import ENV_API_SECRET
from center_platform.cli import ENV_NEW_PASSWORD
from center_platform.cli import main as center_cli
from storage.signing import SigningKey

REPO = Path(__file__).resolve().parent.parent
BRANCH_CODE = "B001"
COUNTER_CODE = "C01"
RM_CODE, RM_PASSWORD = "1000001", "demo-rm-2026"
ADMIN_CODE, ADMIN_PASSWORD = "1000002", "demo-admin-2026"
COMPLIANCE_USER, COMPLIANCE_PASSWORD = "compliance", "demo-compliance-2026"
PRODUCT_FIXED, PRODUCT_OPEN = "WM-FIX-180", "WM-OPEN-01"


@dataclass
class DemoSystem:
    workdir: Path
    center_url: str
    branch_url: str
    center_config: Path
    branch_config: Path
    branch_secret: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _center(config: Path, *argv: str, password: str | None = None) -> str:
    out = io.StringIO()
    with _environment({ENV_NEW_PASSWORD: password} if password is not None else {}), contextlib.redirect_stdout(out):
        code = center_cli(["--config", str(config), *argv])
    if code != 0:
        raise RuntimeError(f"center {' '.join(argv)} failed with code {code}")
    return out.getvalue().strip()


def write_configs(workdir: Path, center_port: int, branch_port: int) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    center = workdir / "center.toml"
    center.write_text(
        f'[server]\nport = {center_port}\ndata_dir = "center"\n\n[storage]\nmode = "embedded"\nbucket = "evidence"\n',
        encoding="utf-8",
    )
    example = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    branch = workdir / "branch.toml"
    branch.write_text(
        example.replace('data_dir = "../var/branch"', 'data_dir = "branch"')
        .replace("port = 8710", f"port = {branch_port}")
        # The demo's center is on this machine: plain http to loopback is what the agent allows without TLS.
        .replace('url = "https://center.bank.example:8443"', f'url = "http://127.0.0.1:{center_port}"'),
        encoding="utf-8",
    )
    return center, branch


def seed(workdir: Path, center_port: int, branch_port: int, extra_env: dict[str, str]) -> tuple[Path, Path, str]:
    """First run only: catalogue, branch enrolment, staff and users. Returns (center cfg, branch cfg, branch secret)."""
    center_cfg, branch_cfg = write_configs(workdir, center_port, branch_port)
    secret_file = workdir / "branch.secret"
    if secret_file.exists():
        return center_cfg, branch_cfg, secret_file.read_text().strip()
    with _environment(extra_env):
        secret = _seed_center(workdir, center_cfg)
    secret_file.write_text(secret)
    os.chmod(secret_file, 0o600)
    return center_cfg, branch_cfg, secret


def _seed_center(workdir: Path, center_cfg: Path) -> str:
    public_key = SigningKey.load_or_create(workdir / "branch" / "keys" / "manifest-signing.pem").public_key_b64
    _center(center_cfg, "product-type", "add", "--code", "FIXED", "--name", "固定期限理财", "--rule", "fixed_term")
    _center(center_cfg, "product-type", "add", "--code", "OPEN", "--name", "开放式理财", "--rule", "open_ended")
    _center(
        center_cfg,
        "product",
        "add",
        "--code",
        PRODUCT_FIXED,
        "--name",
        "稳健增利180天",
        "--type",
        "FIXED",
        "--term-days",
        "180",
        "--risk",
        "R2",
        "--script",
        "本产品为非保本浮动收益型理财产品，投资有风险，购买需谨慎。",
    )
    _center(
        center_cfg,
        "product",
        "add",
        "--code",
        PRODUCT_OPEN,
        "--name",
        "天天开放净值型",
        "--type",
        "OPEN",
        "--risk",
        "R3",
        "--script",
        "本产品为开放式净值型产品，净值可能下跌，过往业绩不代表未来表现。",
    )
    secret = _center(
        center_cfg,
        "branch",
        "add",
        "--code",
        BRANCH_CODE,
        "--name",
        "演示支行",
        "--public-key",
        public_key,
        "--counter",
        COUNTER_CODE,
    )
    _center(
        center_cfg, "staff", "add", "--code", RM_CODE, "--name", "李经理", "--branch", BRANCH_CODE, password=RM_PASSWORD
    )
    _center(
        center_cfg,
        "staff",
        "add",
        "--code",
        ADMIN_CODE,
        "--name",
        "王主管",
        "--branch",
        BRANCH_CODE,
        "--role",
        "branch_admin",
        password=ADMIN_PASSWORD,
    )
    _center(
        center_cfg,
        "user",
        "add",
        "--username",
        COMPLIANCE_USER,
        "--name",
        "合规专员",
        "--role",
        "compliance_officer",
        password=COMPLIANCE_PASSWORD,
    )
    return secret


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url} process exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)


def start(
    workdir: Path, center_port: int = 0, branch_port: int = 0, extra_env: dict[str, str] | None = None
) -> DemoSystem:
    """extra_env reaches the center (seeding and serving), e.g. CENTER_DATABASE_URL for PostgreSQL."""
    center_port = center_port or free_port()
    branch_port = branch_port or free_port()
    center_cfg, branch_cfg, secret = seed(workdir, center_port, branch_port, extra_env or {})
    system = DemoSystem(
        workdir, f"http://127.0.0.1:{center_port}", f"http://127.0.0.1:{branch_port}", center_cfg, branch_cfg, secret
    )
    env = dict(os.environ)
    center_env = {**env, **(extra_env or {})}
    try:
        center = _spawn(
            [sys.executable, "-m", "center_platform", "--config", str(center_cfg), "serve"],
            workdir / "center.log",
            center_env,
        )
        system.procs.append(center)
        _wait_http(system.center_url + "/healthz", center, workdir / "center.log")
        branch = _spawn(
            [sys.executable, "-m", "branch_agent", "--config", str(branch_cfg), "serve"],
            workdir / "branch.log",
            {**env, ENV_API_SECRET: secret},
        )
        system.procs.append(branch)
        _wait_http(system.branch_url + "/healthz", branch, workdir / "branch.log")
    except BaseException:
        system.stop()
        raise
    return system


def main() -> int:
    workdir = Path(os.environ.get("DEMO_DIR", REPO / "var" / "demo")).resolve()
    center_port = int(os.environ.get("DEMO_CENTER_PORT", "8700"))
    branch_port = int(os.environ.get("DEMO_BRANCH_PORT", "8710"))
    print(f"starting storage, center and branch in {workdir} ...", flush=True)
    system = start(workdir, center_port, branch_port)
    print(
        f"""
  Counter UI (branch {BRANCH_CODE}): {system.branch_url}
      relationship manager  staff code {RM_CODE}  password {RM_PASSWORD}
      branch admin          staff code {ADMIN_CODE}  password {ADMIN_PASSWORD}
  Center UI:                        {system.center_url}
      compliance officer    user {COMPLIANCE_USER}  password {COMPLIANCE_PASSWORD}
  Logs: {workdir}/center.log, {workdir}/branch.log
  Ctrl-C stops everything.
""",
        flush=True,
    )
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    # Ctrl-C must stop the demo even when a parent started it with SIGINT ignored (e.g. in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while not stop["now"] and all(p.poll() is None for p in system.procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
