"""The ingest check list: every check runs, in order, and a quarantine keeps every problem found."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center_platform.db.models import AuditEvent, Branch, IngestUpload, Recording
from center_platform.ingest.checks import (
    CHECKS,
    Check,
    CheckResult,
    IngestContext,
    Problem,
    StoredMedia,
    run_checks,
)
from storage.contract import routes
from storage.manifest import ClipManifest
from storage.signing import SigningKey
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    ArchiveRig,
    archive_rig,
    clip_manifest,
    signed_branch_request,
    upload_clip,
)


def _register_and_send(client: FlaskClient, manifest: ClipManifest, media: bytes) -> None:
    """The upload protocol up to, not including, complete: the bytes sit in the store, not yet assembled."""
    r, _ = signed_branch_request(client, "POST", routes.UPLOADS, {"manifest": json.loads(manifest.canonical_bytes())})
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    size = plan["part_size"]
    chunks = {n: media[(n - 1) * size : n * size] for n in range(1, plan["part_count"] + 1)}
    checksums = [
        {"part_number": n, "sha256_b64": base64.b64encode(hashlib.sha256(body).digest()).decode()}
        for n, body in chunks.items()
    ]
    r, _ = signed_branch_request(client, "POST", routes.upload_parts(manifest.clip_id), {"parts": checksums})
    assert r.status_code == 200, r.get_json()
    for p in r.get_json()["parts"]:
        put = requests.put(p["url"], data=chunks[p["part_number"]], headers=p["headers"], timeout=30)
        assert put.status_code == 200, put.text


def _replace_branch_key(rig: ArchiveRig) -> None:
    """The branch's key is replaced (say, reported stolen) while one of its clips is on its way in."""
    with rig.sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        branch.signing_public_key = SigningKey.generate().public_key_b64
        db.commit()


def test_wrong_bytes_a_replaced_key_and_a_fork_are_all_in_the_quarantine(archive_rig: ArchiveRig) -> None:
    client = archive_rig.branch_client()
    media = secrets.token_bytes(2048)
    first = clip_manifest(archive_rig.key, media)
    assert upload_clip(client, first, media)["state"] == "verified"
    media = secrets.token_bytes(2048)
    kept = clip_manifest(archive_rig.key, media, prev_manifest_sha256=first.manifest_sha256())
    assert upload_clip(client, kept, media)["state"] == "verified"

    signed = secrets.token_bytes(3000)
    forked = clip_manifest(archive_rig.key, signed, prev_manifest_sha256=first.manifest_sha256())
    altered = bytearray(signed)
    altered[7] ^= 0xFF  # same size, other bytes
    _register_and_send(client, forked, bytes(altered))
    _replace_branch_key(archive_rig)
    r, _ = signed_branch_request(client, "POST", routes.upload_complete(forked.clip_id))

    assert r.status_code == 422
    outcome = r.get_json()
    assert outcome["state"] == "quarantined"
    reason = outcome["reason"]
    assert "SHA-256" in reason and "signed by key" in reason and "fork" in reason
    assert reason.index("SHA-256") < reason.index("signed by key") < reason.index("fork")  # the list's order
    with archive_rig.sessions() as db:
        row = db.execute(select(IngestUpload).where(IngestUpload.clip_id == forked.clip_id)).scalar_one()
        assert (row.state, row.reason) == ("quarantined", reason)
        [event] = db.execute(
            select(AuditEvent).where(AuditEvent.action == "ingest.quarantined", AuditEvent.target == forked.clip_id)
        ).scalars()
        assert int(db.execute(select(func.count()).select_from(Recording)).scalar_one()) == 2
    detail = json.loads(event.detail)
    assert [p["code"] for p in detail["problems"]] == ["sha256_mismatch", "signature_invalid", "manifest_chain"]
    assert detail["reason"] == reason
    # Asked again, the branch hears the same complete answer.
    r, _ = signed_branch_request(client, "POST", routes.upload_complete(forked.clip_id))
    assert r.get_json()["reason"] == reason


# -- the runner, on a real catalogue and store ----------------------------------------------------


def _context(
    rig: ArchiveRig, db: Session, *, stored_size_delta: int = 0, public_key: str | None = None
) -> IngestContext:
    media = secrets.token_bytes(1024)
    manifest = clip_manifest(rig.key, media)
    branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
    return IngestContext(
        manifest=manifest,
        stored=StoredMedia(
            key="clips/none.mp4",
            version_id="v0",
            size=len(media) + stored_size_delta,
            sha256=hashlib.sha256(media).hexdigest(),
        ),
        branch_id=branch.id,
        branch_code=BRANCH_CODE,
        branch_public_key=rig.key.public_key_b64 if public_key is None else public_key,
        session=db,
        store=rig.store,
    )


def _recording(name: str, calls: list[str], problem: bool = False, note: str = "") -> Check:
    def run(ctx: IngestContext) -> CheckResult:
        calls.append(name)
        return CheckResult(
            problems=[Problem(f"{name}_bad", f"{name} is wrong")] if problem else [],
            notes=[note] if note else [],
        )

    return Check(name, run)


def test_the_default_list_and_its_order() -> None:
    assert [c.name for c in CHECKS] == ["size", "sha256", "signature", "manifest_chain", "quality"]


def test_every_check_runs_in_order_and_every_problem_is_kept(archive_rig: ArchiveRig) -> None:
    calls: list[str] = []
    checks = [
        _recording("a", calls),
        _recording("b", calls, problem=True),
        _recording("c", calls, problem=True, note="c saw something"),
        _recording("d", calls, note="d saw something"),
    ]
    with archive_rig.sessions() as db:
        report = run_checks(_context(archive_rig, db), checks)
    assert calls == report.ran == ["a", "b", "c", "d"]
    assert report.skipped == []
    assert report.problems == [Problem("b_bad", "b is wrong"), Problem("c_bad", "c is wrong")]
    assert report.notes == ["c saw something", "d saw something"]
    assert not report.passed and report.reason == "b is wrong; c is wrong"


def test_a_check_after_a_failed_one_is_skipped_with_a_note_and_the_rest_still_run(archive_rig: ArchiveRig) -> None:
    calls: list[str] = []
    base = _recording("base", calls, problem=True)
    needs_base = _recording("needs_base", calls)
    needs_that = _recording("needs_that", calls)
    checks = [
        base,
        Check(needs_base.name, needs_base.run, after=("base",)),
        Check(needs_that.name, needs_that.run, after=("needs_base",)),
        _recording("independent", calls),
    ]
    with archive_rig.sessions() as db:
        report = run_checks(_context(archive_rig, db), checks)
    assert calls == report.ran == ["base", "independent"]
    assert report.skipped == ["needs_base", "needs_that"]
    assert report.notes == [
        "needs_base not checked: base already failed",
        "needs_that not checked: needs_base already failed",
    ]
    assert [p.code for p in report.problems] == ["base_bad"]


def test_a_check_must_come_after_the_checks_it_needs(archive_rig: ArchiveRig) -> None:
    calls: list[str] = []
    late = _recording("late", calls)
    with archive_rig.sessions() as db, pytest.raises(ValueError, match="'early' runs after \\['late'\\]"):
        run_checks(_context(archive_rig, db), [Check("early", late.run, after=("late",)), late])
    assert calls == []


def test_wrong_size_and_bad_signature_are_both_reported(archive_rig: ArchiveRig) -> None:
    with archive_rig.sessions() as db:
        ctx = _context(archive_rig, db, stored_size_delta=-1, public_key=SigningKey.generate().public_key_b64)
        report = run_checks(ctx)
    assert report.ran == ["size", "signature", "manifest_chain", "quality"]
    assert report.skipped == ["sha256"]  # a hash of the wrong number of bytes says nothing new
    assert [p.code for p in report.problems] == ["size_mismatch", "signature_invalid"]
    assert f"differs from the manifest's {ctx.manifest.media.size}" in report.problems[0].message
    assert "sha256 not checked: size already failed" in report.notes


def test_a_branch_without_a_key_fails_the_signature_check(archive_rig: ArchiveRig) -> None:
    with archive_rig.sessions() as db:
        report = run_checks(_context(archive_rig, db, public_key=""))
    assert [p.code for p in report.problems] == ["signing_key_missing"]
    assert report.ran == [c.name for c in CHECKS]


def test_a_sound_clip_passes_every_check(archive_rig: ArchiveRig) -> None:
    with archive_rig.sessions() as db:
        report = run_checks(_context(archive_rig, db))
    assert report.passed and report.reason == ""
    assert report.ran == [c.name for c in CHECKS]
