"""One clip the whole way: record at the counter, upload through presigned URLs, verify, lock, find, replay.

Everything here is a real process on 127.0.0.1: SeaweedFS started by the center, the center, and the
branch agent with its simulated cameras, driven over HTTP as the counter UI and the center UI do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from center_platform.config import ENV_DATABASE_URL
from scripts import demo
from storage.mp4_index import scan_file
from storage.replay_view import replay_view
from tests.postgres import fresh_postgres_database
from tests.replay_clips import view_bytes

CLIP_SECONDS = 10
SALE = {
    "business_serial": "SN20261122-0001",
    "customer_name": "张三",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "card_number": "6222021234567890128",
    "product_code": demo.PRODUCT_FIXED,
    "consent": "1",
}


# The PostgreSQL run of the whole system is the long one; the center's own tests run on both databases.
@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow])],
)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[demo.DemoSystem]:
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if request.param == "postgresql":
            env[ENV_DATABASE_URL] = stack.enter_context(
                fresh_postgres_database(request.getfixturevalue("postgres_server"))
            )
        running = demo.start(tmp_path_factory.mktemp("e2e"), extra_env=env)
        stack.callback(running.stop)
        yield running


def _login_branch(system: demo.DemoSystem, code: str, password: str) -> tuple[requests.Session, dict[str, str]]:
    s = requests.Session()
    r = s.post(system.branch_url + "/api/session", json={"staff_code": code, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return s, {"X-CSRF-Token": r.json()["csrf_token"]}


def _login_center(system: demo.DemoSystem) -> requests.Session:
    s = requests.Session()
    r = s.post(
        system.center_url + "/api/session",
        json={"username": demo.COMPLIANCE_USER, "password": demo.COMPLIANCE_PASSWORD},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return s


def _s3(system: demo.DemoSystem):  # type: ignore[no-untyped-def]
    creds = json.loads((system.workdir / "center" / "storage" / "credentials.json").read_text())
    port = _storage_port(system)
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def _weed_cmdline(system: demo.DemoSystem) -> tuple[int, str]:
    marker = str(system.workdir / "center" / "storage")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if " mini " in cmd and marker in cmd:
            return int(proc.name), cmd
    raise AssertionError("the center's SeaweedFS process is not running")


def _storage_port(system: demo.DemoSystem) -> int:
    _, cmd = _weed_cmdline(system)
    return int(next(a.split("=", 1)[1] for a in cmd.split() if a.startswith("-s3.port=")))


def test_one_clip_end_to_end(system: demo.DemoSystem) -> None:
    rm, rm_csrf = _login_branch(system, demo.RM_CODE, demo.RM_PASSWORD)
    r = rm.post(
        f"{system.branch_url}/api/counters/{demo.COUNTER_CODE}/recording", json=SALE, headers=rm_csrf, timeout=30
    )
    assert r.status_code == 201, r.text
    clip_id = r.json()["clip_id"]
    time.sleep(CLIP_SECONDS / 2)
    assert (
        rm.post(
            f"{system.branch_url}/api/counters/{demo.COUNTER_CODE}/recording/markers",
            json={"kind": "risk_disclosed"},
            headers=rm_csrf,
            timeout=10,
        ).status_code
        == 201
    )
    time.sleep(CLIP_SECONDS / 2)
    r = rm.post(f"{system.branch_url}/api/counters/{demo.COUNTER_CODE}/recording/complete", headers=rm_csrf, timeout=60)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["clip_id"] == clip_id and done["state"] == "completed"
    assert abs(done["duration_ms"] - CLIP_SECONDS * 1000) < 1500

    local = next((system.workdir / "branch" / "spool").rglob(f"{clip_id}.mp4"))
    local_bytes = local.read_bytes()
    manifest = json.loads(local.with_suffix(".manifest.json").read_text(encoding="utf-8"))
    assert manifest["markers"][0]["kind"] == "risk_disclosed"
    assert manifest["media"]["size"] == len(local_bytes) == done["size"]

    admin, admin_csrf = _login_branch(system, demo.ADMIN_CODE, demo.ADMIN_PASSWORD)
    r = admin.post(system.branch_url + "/api/uploads/run", headers=admin_csrf, timeout=300)
    assert r.status_code == 200, r.text
    assert [(x["clip_id"], x["state"]) for x in r.json()["results"]] == [(clip_id, "verified")]
    # The branch never saw storage credentials: nothing in its config, data or environment names them.
    creds = json.loads((system.workdir / "center" / "storage" / "credentials.json").read_text())
    branch_text = (system.workdir / "branch.toml").read_text() + "".join(
        p.read_text(errors="ignore")
        for p in (system.workdir / "branch").rglob("*")
        if p.is_file() and p.suffix in (".toml", ".json", ".key", ".pem")
    )
    assert creds["secret_key"] not in branch_text

    center = _login_center(system)
    r = center.get(
        system.center_url + "/api/recordings", params={"business_serial": SALE["business_serial"]}, timeout=10
    )
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert len(rows) == 1 and rows[0]["clip_id"] == clip_id
    row = rows[0]
    assert row["sha256"] == manifest["media"]["sha256"] and row["customer_name"] == "张三"
    # Fixed term of 180 days from purchase, kept two more years, to the end of the day in Shanghai.
    assert row["retain_until"] > "2028-05-01"

    # Replay serves the clip's view: its bytes, unchanged and in order, with seek boxes inserted.
    served = view_bytes(replay_view(scan_file(local)), local_bytes)
    r = center.get(
        f"{system.center_url}/api/recordings/{clip_id}/media", headers={"Range": "bytes=1000-1999"}, timeout=10
    )
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(served)}"
    assert r.content == served[1000:2000]
    r = center.get(f"{system.center_url}/api/recordings/{clip_id}/media", headers={"Range": "bytes=-500"}, timeout=10)
    assert r.status_code == 206 and r.content == served[-500:]

    s3 = _s3(system)
    # Grouped by product type, then branch and day.
    day = manifest["started_at"][:10].replace("-", "/")
    key = f"clips/{manifest['product']['type_code']}/{demo.BRANCH_CODE}/{day}/{clip_id}.mp4"
    head = s3.head_object(Bucket="evidence", Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentLength"] == len(local_bytes)
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket="evidence", Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.head_object(Bucket="evidence", Key=key, VersionId=head["VersionId"])["ContentLength"] == len(local_bytes)

    # The manager replays the clip at the counter by Range; one viewing is one audit line.
    for rng, want in (("bytes=0-99", served[:100]), ("bytes=5000-5099", served[5000:5100])):
        r = rm.get(f"{system.branch_url}/api/clips/{clip_id}/media", headers={"Range": rng}, timeout=10)
        assert r.status_code == 206 and r.content == want
    with sqlite3.connect(system.workdir / "branch" / "branch.db") as db:
        replays = db.execute(
            "SELECT count(*) FROM local_audit WHERE action = 'replay' AND target = ?", (clip_id,)
        ).fetchone()[0]
    assert replays == 1

    # The manager sees the clip in today's list; a second upload run has nothing left to send.
    assert clip_id in [c["clip_id"] for c in rm.get(system.branch_url + "/api/clips", timeout=10).json()["clips"]]
    assert admin.post(system.branch_url + "/api/uploads/run", headers=admin_csrf, timeout=60).json()["results"] == []


def test_storage_down_is_reported_and_search_keeps_working(system: demo.DemoSystem) -> None:
    """Runs after the end-to-end test (same module): it kills the store for good."""
    center = _login_center(system)
    assert requests.get(system.center_url + "/healthz", timeout=10).status_code == 200
    pid, _ = _weed_cmdline(system)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = requests.get(system.center_url + "/healthz", timeout=30)
        if r.status_code == 503:
            break
        time.sleep(0.5)
    assert r.status_code == 503
    assert r.json()["components"]["storage"]["status"] == "down"
    assert r.json()["components"]["database"]["status"] == "up"
    r = center.get(
        system.center_url + "/api/recordings", params={"business_serial": SALE["business_serial"]}, timeout=10
    )
    assert r.status_code == 200 and r.json()["total"] == 1
