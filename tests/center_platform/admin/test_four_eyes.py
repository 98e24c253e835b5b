"""Four eyes: a retention rule, a branch's signing key and the password of a compliance officer or a
system admin change only when a second system admin approves what the first proposed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from center_platform.cli import main as cli_main
from center_platform.db.models import AuditEvent, Branch, PendingChange, ProductType, User, utcnow
from storage.contract.passwords import check_password
from storage.signing import SigningKey
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    USER_PASSWORD,
    ArchiveRig,
    archive_rig,
)
from tests.password_hashes import seeded_hash

SECOND_ADMIN = "sysadmin2"


def _second_admin(rig: ArchiveRig) -> None:
    with rig.sessions() as db:
        db.add(
            User(
                username=SECOND_ADMIN,
                display_name="二号管理员",
                role="system_admin",
                password_hash=seeded_hash(USER_PASSWORD),
            )
        )
        db.commit()


def _audit(rig: ArchiveRig, action: str) -> list[AuditEvent]:
    with rig.sessions() as db:
        return list(db.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).scalars())


def _fixed_years(rig: ArchiveRig) -> int:
    with rig.sessions() as db:
        return int(db.execute(select(ProductType.years_after_maturity).where(ProductType.code == "FIXED")).scalar_one())


def test_a_rule_change_waits_for_a_second_admin(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    first = archive_rig.login("sysadmin")
    r = first.patch("/api/admin/product-types/FIXED", json={"years_after_maturity": 8, "name": "固定期限产品"})
    assert r.status_code == 202, r.get_json()
    pending = r.get_json()["pending"]
    assert pending["kind"] == "retention_rule" and pending["target"] == "FIXED" and pending["state"] == "pending"
    assert pending["before"] == {"years_after_maturity": 2} and pending["after"] == {"years_after_maturity": 8}
    # The name is no rule: it changed at once. The rule did not.
    assert r.get_json()["item"]["name"] == "固定期限产品" and _fixed_years(archive_rig) == 2
    # A second proposal for the same rule while one waits is refused.
    assert first.patch("/api/admin/product-types/FIXED", json={"years_after_maturity": 9}).status_code == 409

    # The proposer cannot approve their own change.
    own = first.post(f"/api/admin/pending-changes/{pending['id']}/approve")
    assert own.status_code == 403 and "本人" in own.get_json()["error"] and "own" in own.get_json()["error"]
    assert _fixed_years(archive_rig) == 2

    second = archive_rig.login(SECOND_ADMIN)
    listed = second.get("/api/admin/pending-changes").get_json()["items"]
    assert [c["id"] for c in listed] == [pending["id"]] and listed[0]["proposed_by"] == "sysadmin"
    r = second.post(f"/api/admin/pending-changes/{pending['id']}/approve")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["change"]["state"] == "applied" and r.get_json()["change"]["decided_by"] == SECOND_ADMIN
    assert _fixed_years(archive_rig) == 8
    # Applied once: approving again changes nothing.
    assert second.post(f"/api/admin/pending-changes/{pending['id']}/approve").status_code == 409
    assert second.get("/api/admin/pending-changes").get_json()["items"] == []

    [proposed] = _audit(archive_rig, "admin.change.proposed")
    [approved] = _audit(archive_rig, "admin.change.approved")
    assert proposed.actor == "sysadmin" and approved.actor == SECOND_ADMIN
    for event in (proposed, approved):
        detail = json.loads(event.detail)
        assert detail["before"] == {"years_after_maturity": 2} and detail["after"] == {"years_after_maturity": 8}
        assert detail["kind"] == "retention_rule" and event.target == "FIXED"
    [updated] = [e for e in _audit(archive_rig, "catalogue.type.updated") if "years_after_maturity" in e.detail]
    assert json.loads(updated.detail)["proposed_by"] == "sysadmin" and updated.actor == SECOND_ADMIN


def test_a_rejected_change_is_never_applied(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    r = archive_rig.login("sysadmin").patch("/api/admin/product-types/OPEN", json={"years_after_purchase": 9})
    change = r.get_json()["pending"]["id"]
    second = archive_rig.login(SECOND_ADMIN)
    r = second.post(f"/api/admin/pending-changes/{change}/reject", json={"note": "无依据 no basis"})
    assert r.status_code == 200 and r.get_json()["change"]["state"] == "rejected"
    assert second.post(f"/api/admin/pending-changes/{change}/approve").status_code == 409
    with archive_rig.sessions() as db:
        assert db.execute(select(ProductType.years_after_purchase).where(ProductType.code == "OPEN")).scalar_one() == 5
    [rejected] = _audit(archive_rig, "admin.change.rejected")
    assert rejected.actor == SECOND_ADMIN and json.loads(rejected.detail)["note"] == "无依据 no basis"
    assert json.loads(rejected.detail)["after"] == {"years_after_purchase": 9}


def test_a_proposal_expires_after_the_configured_time(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    assert archive_rig.config.approvals.expire_hours == 72
    r = archive_rig.login("sysadmin").patch("/api/admin/product-types/FIXED", json={"years_after_dispute": 4})
    change = r.get_json()["pending"]
    assert 71 * 3600 < (_ts(change["expires_at"]) - _ts(change["proposed_at"])) <= 72 * 3600
    with archive_rig.sessions() as db:  # time passes: the proposal is now past its expiry
        db.execute(update(PendingChange).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.commit()
    second = archive_rig.login(SECOND_ADMIN)
    r = second.post(f"/api/admin/pending-changes/{change['id']}/approve")
    assert r.status_code == 409 and "过期" in r.get_json()["error"] and "expired" in r.get_json()["error"]
    with archive_rig.sessions() as db:
        assert db.execute(select(PendingChange.state)).scalar_one() == "expired"
        assert db.execute(select(ProductType.years_after_dispute).where(ProductType.code == "FIXED")).scalar_one() == 2
    [expired] = _audit(archive_rig, "admin.change.expired")
    assert json.loads(expired.detail)["after"] == {"years_after_dispute": 4}
    assert second.get("/api/admin/pending-changes").get_json()["items"] == []


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


def test_a_branch_key_swap_waits_for_a_second_admin(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    new_key = SigningKey.generate()
    first = archive_rig.login("sysadmin")
    r = first.patch(f"/api/admin/branches/{BRANCH_CODE}", json={"signing_public_key": new_key.public_key_b64})
    assert r.status_code == 202, r.get_json()
    change = r.get_json()["pending"]
    assert change["kind"] == "branch_signing_key"
    assert change["after"]["signing_key_id"] == new_key.key_id
    with archive_rig.sessions() as db:
        current = db.execute(select(Branch.signing_public_key).where(Branch.code == BRANCH_CODE)).scalar_one()
    assert current == archive_rig.key.public_key_b64
    assert first.post(f"/api/admin/pending-changes/{change['id']}/approve").status_code == 403
    r = archive_rig.login(SECOND_ADMIN).post(f"/api/admin/pending-changes/{change['id']}/approve")
    assert r.status_code == 200, r.get_json()
    with archive_rig.sessions() as db:
        current = db.execute(select(Branch.signing_public_key).where(Branch.code == BRANCH_CODE)).scalar_one()
    assert current == new_key.public_key_b64


@pytest.mark.parametrize("target", ["compliance", SECOND_ADMIN])
def test_a_privileged_password_reset_waits_for_a_second_admin(archive_rig: ArchiveRig, target: str) -> None:
    _second_admin(archive_rig)
    proposer = "sysadmin"
    approver = SECOND_ADMIN if target != SECOND_ADMIN else "sysadmin3"
    if approver == "sysadmin3":
        with archive_rig.sessions() as db:
            db.add(
                User(
                    username="sysadmin3",
                    display_name="三号",
                    role="system_admin",
                    password_hash=seeded_hash(USER_PASSWORD),
                )
            )
            db.commit()
    r = archive_rig.login(proposer).post(f"/api/admin/users/{target}/password", json={"password": "brand-new-pass-1"})
    assert r.status_code == 202, r.get_json()
    change = r.get_json()["pending"]
    # Neither the password nor its hash is shown or audited.
    assert "brand-new-pass-1" not in json.dumps(change) and "scrypt" not in json.dumps(change)
    archive_rig.login(target)  # the old password still works
    r = archive_rig.login(approver).post(f"/api/admin/pending-changes/{change['id']}/approve")
    assert r.status_code == 200, r.get_json()
    with archive_rig.sessions() as db:
        user = db.execute(select(User).where(User.username == target)).scalar_one()
        assert check_password("brand-new-pass-1", user.password_hash)
    trail = json.dumps(
        [e.detail for e in _audit(archive_rig, "admin.change.proposed") + _audit(archive_rig, "admin.change.approved")]
    )
    assert "brand-new-pass-1" not in trail and "scrypt" not in trail


def test_an_auditors_password_is_still_reset_at_once(archive_rig: ArchiveRig) -> None:
    r = archive_rig.login("sysadmin").post("/api/admin/users/auditor/password", json={"password": "auditor-pass-2"})
    assert r.status_code == 200 and "pending" not in r.get_json()


def test_a_role_change_into_compliance_waits_for_a_second_admin(archive_rig: ArchiveRig) -> None:
    """Otherwise one admin could demote a compliance officer, reset the password alone, and promote back."""
    _second_admin(archive_rig)
    r = archive_rig.login("sysadmin").patch("/api/admin/users/auditor", json={"role": "compliance_officer"})
    assert r.status_code == 202, r.get_json()
    with archive_rig.sessions() as db:
        assert db.execute(select(User.role).where(User.username == "auditor")).scalar_one() == "auditor"
    change = r.get_json()["pending"]
    assert archive_rig.login(SECOND_ADMIN).post(f"/api/admin/pending-changes/{change['id']}/approve").status_code == 200
    with archive_rig.sessions() as db:
        assert db.execute(select(User.role).where(User.username == "auditor")).scalar_one() == "compliance_officer"


def test_the_pending_list_on_the_admin_page(archive_rig: ArchiveRig) -> None:
    _second_admin(archive_rig)
    first = archive_rig.login("sysadmin")
    csrf = first.environ_base["HTTP_X_CSRF_TOKEN"]
    r = first.post(
        "/admin/product-types/FIXED",
        data={
            "csrf_token": csrf,
            "name": "固定期限",
            "retention_rule": "fixed_term",
            "years_after_maturity": "6",
            "years_after_purchase": "5",
            "years_after_redemption": "2",
            "years_after_dispute": "2",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200 and "待复核" in r.text and "submitted for approval" in r.text
    page = first.get("/admin/products")
    assert 'id="pending"' in page.text and "待复核" in page.text and "Pending approval" in page.text
    assert 'data-change="' in page.text and "FIXED" in page.text
    assert 'class="approve"' not in page.text  # the proposer gets no approve button
    [change] = first.get("/api/admin/pending-changes").get_json()["items"]
    # Even posted by hand, the proposer's approval is refused on the page.
    r = first.post(f"/admin/pending-changes/{change['id']}/approve", data={"csrf_token": csrf})
    assert r.status_code == 403 and "本人" in r.text and _fixed_years(archive_rig) == 2

    second = archive_rig.login(SECOND_ADMIN)
    page = second.get("/admin/products")
    assert 'class="approve"' in page.text and 'class="reject"' in page.text
    r = second.post(
        f"/admin/pending-changes/{change['id']}/approve",
        data={"csrf_token": second.environ_base["HTTP_X_CSRF_TOKEN"]},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "已复核并生效" in r.text and _fixed_years(archive_rig) == 6


def test_the_cli_refuses_to_change_an_existing_key_or_rule(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    new_key = SigningKey.generate().public_key_b64
    code = cli_main(
        ["--config", config, "branch", "add", "--code", BRANCH_CODE, "--name", "x", "--public-key", new_key]
    )
    err = capsys.readouterr().err
    assert code == 2 and "/admin" in err and "复核" in err and "approval" in err
    code = cli_main(
        ["--config", config, "product-type", "add", "--code", "FIXED", "--name", "x", "--rule", "open_ended"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "/admin" in err and "复核" in err
    monkeypatch.setenv("CENTER_NEW_PASSWORD", "cli-new-password")
    code = cli_main(["--config", config, "user", "add", "--username", "compliance", "--role", "compliance_officer"])
    err = capsys.readouterr().err
    assert code == 2 and "/admin" in err
    with archive_rig.sessions() as db:
        assert db.execute(select(Branch.signing_public_key).where(Branch.code == BRANCH_CODE)).scalar_one() == (
            archive_rig.key.public_key_b64
        )
        assert (
            db.execute(select(ProductType.retention_rule).where(ProductType.code == "FIXED")).scalar_one()
            == "fixed_term"
        )
        user = db.execute(select(User).where(User.username == "compliance")).scalar_one()
        assert not check_password("cli-new-password", user.password_hash)
    # Bootstrap still works: a new type and a new branch straight from the CLI.
    assert (
        cli_main(
            ["--config", config, "product-type", "add", "--code", "NEWT", "--name", "新类型", "--rule", "fixed_term"]
        )
        == 0
    )
