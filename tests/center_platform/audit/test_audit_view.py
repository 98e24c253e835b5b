"""The audit trail for auditors: filters, pages, deletion certificates, chain verification (API, page and CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from center_platform.audit import trail as audit
from center_platform.cli import main as cli_main
from center_platform.db.models import AuditEvent
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401


def _certificate(rig: ArchiveRig, clip_id: str) -> None:
    with rig.sessions() as db:
        audit.append(
            db,
            "expiry",
            "retention.deleted",
            clip_id,
            {
                "clip_id": clip_id,
                "sha256": "ab" * 32,
                "retain_until": "2020-01-01T16:00:00+00:00",
                "deleted_at": datetime.now(UTC).isoformat(),
                "rule": "maturity 2018-01-01 + 2y",
            },
        )
        db.commit()


def _viewed(rig: ArchiveRig) -> list[AuditEvent]:
    with rig.sessions() as db:
        return list(db.execute(select(AuditEvent).where(AuditEvent.action == "audit.viewed")).scalars())


def test_auditor_filters_and_pages_the_trail(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    for n in range(5):
        assert (
            admin.post(
                "/api/admin/staff",
                json={"code": f"300000{n}", "name": f"经理{n}", "branch_code": "B009", "password": "rm-password-1"},
            ).status_code
            == 201
        )
    auditor = archive_rig.login("auditor")
    r = auditor.get("/api/audit/events?action=catalogue.staff.created&limit=2")
    body = r.get_json()
    assert (
        r.status_code == 200
        and body["total"] == 5
        and [row["target"] for row in body["rows"]] == ["3000004", "3000003"]
    )
    assert body["rows"][0]["actor"] == "sysadmin" and body["rows"][0]["detail"]["after"]["name"] == "经理4"
    page3 = auditor.get("/api/audit/events?action=catalogue.staff.created&limit=2&offset=4").get_json()
    assert [row["target"] for row in page3["rows"]] == ["3000000"]
    assert auditor.get("/api/audit/events?action=catalogue.*&actor=sysadmin").get_json()["total"] == 5
    assert auditor.get("/api/audit/events?target=3000002").get_json()["total"] == 1
    assert auditor.get("/api/audit/events?actor=nobody").get_json()["total"] == 0

    now = datetime.now(UTC)
    later = (now + timedelta(hours=1)).isoformat()
    assert auditor.get("/api/audit/events", query_string={"from": later}).get_json()["total"] == 0
    earlier = (now - timedelta(hours=1)).isoformat()
    assert (
        auditor.get(
            "/api/audit/events", query_string={"from": earlier, "action": "catalogue.staff.created"}
        ).get_json()["total"]
        == 5
    )

    for bad, word in (
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
        (f"from={later}&to={earlier}", "before"),
    ):
        r = auditor.get("/api/audit/events?" + bad.replace("+", "%2B"))
        assert r.status_code == 400 and word in r.get_json()["error"], bad


def test_viewing_the_trail_is_audited_once_per_filter(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    auditor.get("/api/audit/events?action=login")
    auditor.get("/api/audit/events?action=login&offset=0&limit=10")
    assert len(_viewed(archive_rig)) == 1
    auditor.get("/api/audit/events?actor=sysadmin")
    auditor.get("/audit?actor=sysadmin")
    viewed = _viewed(archive_rig)
    assert len(viewed) == 2 and viewed[0].actor == "auditor" and json.loads(viewed[1].detail)["view"] == "events"


def test_deletion_certificates_have_their_own_list(archive_rig: ArchiveRig) -> None:
    _certificate(archive_rig, "c" * 32)
    _certificate(archive_rig, "d" * 32)
    auditor = archive_rig.login("auditor")
    body = auditor.get("/api/audit/certificates").get_json()
    assert body["total"] == 2 and {r["action"] for r in body["rows"]} == {"retention.deleted"}
    assert body["rows"][0]["detail"]["sha256"] == "ab" * 32
    assert auditor.get("/api/audit/certificates?target=" + "c" * 32).get_json()["total"] == 1
    page = auditor.get("/audit/certificates")
    assert (
        page.status_code == 200
        and "删除证明" in page.text
        and "maturity 2018-01-01 + 2y" in page.text
        and 'class="certificate"' in page.text
    )
    assert archive_rig.login("compliance").get("/api/audit/certificates").status_code == 403


def test_chain_verification_on_the_page_catches_an_edited_row(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")
    assert auditor.post("/api/audit/verify").get_json() == {"intact": True, "problems": []}
    page = auditor.post("/audit/verify")
    assert page.status_code == 200 and 'data-intact="true"' in page.text
    with archive_rig.sessions() as db:
        first = db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().first()
        assert first is not None
        db.execute(update(AuditEvent).where(AuditEvent.id == first.id).values(actor="someone-else"))
        db.commit()
    result = auditor.post("/api/audit/verify").get_json()
    assert (
        result["intact"] is False
        and result["problems"][0]["event_id"] == first.id
        and "edited" in result["problems"][0]["problem"]
    )
    assert 'data-intact="false"' in auditor.post("/audit/verify").text


def test_verifying_the_chain_writes_to_the_trail_only_by_post_with_the_csrf_token(archive_rig: ArchiveRig) -> None:
    auditor = archive_rig.login("auditor")

    def verified() -> int:
        with archive_rig.sessions() as db:
            return len(db.execute(select(AuditEvent).where(AuditEvent.action == "audit.verified")).scalars().all())

    assert auditor.get("/api/audit/verify").status_code == 405  # a link or an image cannot make it write
    assert auditor.get("/audit?verify=1").status_code == 400  # no longer a way to run the check
    assert verified() == 0
    token = auditor.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert auditor.post("/api/audit/verify").status_code == 403
    assert auditor.post("/audit/verify").status_code == 403
    assert verified() == 0
    page = auditor.get("/audit")
    assert 'action="/audit/verify"' in page.text and f'value="{token}"' in page.text  # the page's button posts
    assert auditor.post("/audit/verify", data={"csrf_token": token}).status_code == 200
    assert verified() == 1


@pytest.mark.parametrize("tamper", ["edit", "remove"])
def test_cli_audit_verify_detects_an_edited_or_removed_row(
    archive_rig: ArchiveRig,
    tamper: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("compliance", "auditor", "sysadmin"):
        archive_rig.login(name)
    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    assert cli_main(["--config", config, "audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    with archive_rig.sessions() as db:
        ids = list(db.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars())
        middle = ids[len(ids) // 2]
        if tamper == "edit":
            db.execute(update(AuditEvent).where(AuditEvent.id == middle).values(detail='{"forged": true}'))
        else:
            db.execute(delete(AuditEvent).where(AuditEvent.id == middle))
        db.commit()
    assert cli_main(["--config", config, "audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert ("edited" if tamper == "edit" else "removed") in out
