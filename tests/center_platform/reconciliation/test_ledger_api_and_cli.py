"""The core system's signed ledger upload, the reconcile CLI and the nightly days."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from center_platform.cli import main
from center_platform.config import ReconciliationSection
from center_platform.reconciliation.runner import nightly_days
from storage.contract.request_signing import sign_request
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import DAY, ledger_csv, resident_id, sale

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SECRET = "core-system-secret-for-tests"


def _post(client, body: bytes, secret: str = SECRET, sender: str = "core"):  # type: ignore[no-untyped-def]
    path = "/api/ledger/v1/imports?file_name=day.csv"
    h = sign_request(sender, secret, "POST", path, body, int(time.time())).as_dict()
    return client.post(path, data=body, headers=h, content_type="text/csv"), h


def test_signed_ledger_upload(archive_rig: ArchiveRig, monkeypatch: pytest.MonkeyPatch) -> None:
    client = archive_rig.app.test_client()
    body = ledger_csv([sale("API1", resident_id(1), T0)])
    assert _post(client, body)[0].status_code == 401  # no key configured: closed
    monkeypatch.setenv("CENTER_LEDGER_API_SECRET", SECRET)
    assert _post(client, body, secret="wrong")[0].status_code == 401
    r, headers = _post(client, body)
    assert r.status_code == 200 and r.get_json()["rows_new"] == 1
    replay = client.post("/api/ledger/v1/imports?file_name=day.csv", data=body, headers=headers)
    assert replay.status_code == 401
    assert _post(client, body)[0].get_json()["rows_same"] == 1
    assert _post(client, b"not,a,ledger\n1,2,3\n")[0].status_code == 400


def test_cli_reconcile_run(archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    config = archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch)
    client = archive_rig.login("compliance")
    import io

    client.post(
        "/api/reconciliation/imports",
        data={"file": (io.BytesIO(ledger_csv([sale("C1", resident_id(1), T0)])), "l.csv")},
    )
    assert main(["--config", str(config), "reconcile", "run", "--day", DAY.isoformat()]) == 0
    assert "1 sales, 0 recorded (0 late), 1 missed" in capsys.readouterr().out
    assert main(["--config", str(config), "reconcile", "run", "--day", "2026-11-05", "--last-day", "2026-11-01"]) == 2


def test_nightly_covers_the_days_before_today() -> None:
    now = datetime(2026, 11, 3, 0, 30, tzinfo=UTC)  # 08:30 on the 3rd in Shanghai
    days = nightly_days(ReconciliationSection(days_back=2), "Asia/Shanghai", now)
    assert days == (date(2026, 11, 1), date(2026, 11, 2))
