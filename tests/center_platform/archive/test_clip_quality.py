"""The center's media analysis of archived clips: the job takes every archived clip without a
report, and its report, verdict, findings and audit line are the clip's record; an analysis that
fails leaves the clip unchecked, tried again a bounded number of times."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from center_platform.archive.clip_quality import QualityRun, quality_work_dir, run_quality_checks
from center_platform.config import QualitySection
from center_platform.db.models import AuditEvent, Recording
from center_platform.db.quality_models import QualityAttempt, QualityFinding
from storage.quality import ManifestFacts, QualityPolicy, QualityReport, run_quality_check
from tests.center_platform.archive.quality_media import cjk_font_path, record_sale
from tests.center_platform.archive_rig import ArchiveRig, archive_rig, upload_clip  # noqa: F401
from tests.center_platform.ingest.quality_clips import quality_manifest, require

IN_ORDER = [("risk_disclosed", 2000), ("customer_confirmed", 6000)]


@pytest.fixture(scope="module")
def sale_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return record_sale(tmp_path_factory.mktemp("sale") / "sale.mp4", cjk_font_path())


def _archive(rig: ArchiveRig, media: bytes, **fields: object) -> str:
    manifest = quality_manifest(rig.key, media, duration_ms=8000, **fields)  # type: ignore[arg-type]
    assert upload_clip(rig.branch_client(), manifest, media)["state"] == "verified"
    return manifest.clip_id


def _run(rig: ArchiveRig, **settings: object) -> QualityRun:
    cfg = QualitySection.model_validate({"retry_after_minutes": 0, **settings})
    return run_quality_checks(rig.sessions, rig.store, cfg, quality_work_dir(rig.config))


def _record(rig: ArchiveRig, clip_id: str) -> tuple[Recording, list[QualityFinding], list[AuditEvent]]:
    with rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
        rows = list(db.execute(select(QualityFinding).where(QualityFinding.recording_id == rec.id)).scalars())
        events = list(
            db.execute(
                select(AuditEvent).where(AuditEvent.target == clip_id, AuditEvent.action.like("quality.%"))
            ).scalars()
        )
        db.expunge_all()
    return rec, rows, events


def test_archived_clips_are_analysed_and_the_report_is_their_record(archive_rig: ArchiveRig, sale_clip: bytes) -> None:
    require(archive_rig, ["风险揭示", "客户确认"])
    good = _archive(archive_rig, sale_clip, markers=IN_ORDER)
    # The same sale, but the customer's confirmation was never marked and the desk camera dropped out.
    poor = _archive(archive_rig, sale_clip, markers=IN_ORDER[:1], gaps=[("desk-cam", 3000, 2000)])

    run = _run(archive_rig)
    assert run.checked == {good: "pass", poor: "fail"} and run.failed == {}

    rec, rows, [event] = _record(archive_rig, good)
    assert rec.quality_verdict == "pass" and rows == []
    report = QualityReport.model_validate_json(rec.quality_report_json or "")
    assert report.measurements.face_share == 1.0 and report.policy.required_markers == ("风险揭示", "客户确认")
    assert event.action == "quality.checked" and json.loads(event.detail)["verdict"] == "pass"

    rec, rows, [event] = _record(archive_rig, poor)
    assert rec.quality_verdict == "fail"
    assert sorted((r.code, r.severity, r.start_ms, r.end_ms) for r in rows) == [
        ("gap", "warn", 3000, 5000),
        ("marker_missing", "fail", 0, 8000),
    ]
    assert [f["code"] for f in json.loads(event.detail)["findings"]] == ["marker_missing", "gap"]
    report = QualityReport.model_validate_json(rec.quality_report_json or "")
    assert [f.message_zh for f in report.failures()] == ["缺少必录环节「客户确认」"]

    # Checked clips are not taken again; nothing else is waiting.
    assert _run(archive_rig).checked == {}


def test_a_clip_without_consent_is_flagged_by_the_centers_own_finding(
    archive_rig: ArchiveRig, sale_clip: bytes
) -> None:
    # A manifest without consent comes from branch software that did not write it (the counter starts
    # no take without it): flagged for the officer, not failed.
    clip = _archive(archive_rig, sale_clip, consent=False)
    assert _run(archive_rig).checked == {clip: "pass"}
    _, rows, _ = _record(archive_rig, clip)
    assert [(r.code, r.severity) for r in rows] == [("consent_missing", "warn")]


def test_a_failing_analysis_leaves_the_clip_unchecked_and_gives_up_after_max_attempts(archive_rig: ArchiveRig) -> None:
    clip = archive_rig.archive(secrets.token_bytes(2048))

    def too_slow(path: Path, policy: QualityPolicy, facts: ManifestFacts) -> QualityReport:
        return run_quality_check(path, policy, facts, timeout_s=0.01)  # stopped before it can say anything

    cfg = QualitySection(max_attempts=2, retry_after_minutes=0)
    work = quality_work_dir(archive_rig.config)
    for attempt in (1, 2):
        run = run_quality_checks(archive_rig.sessions, archive_rig.store, cfg, work, analyser=too_slow)
        assert list(run.failed) == [clip] and "took longer" in run.failed[clip], attempt
        rec, rows, events = _record(archive_rig, clip)
        # No verdict and no report: only what ingest read from the manifest (here, no consent in it).
        assert rec.quality_verdict is None and rec.quality_report_json is None
        assert [(r.code, r.severity) for r in rows] == [("consent_missing", "warn")]
        assert [json.loads(e.detail)["attempt"] for e in events] == list(range(1, attempt + 1))
    assert json.loads(events[-1].detail)["gave_up"] is True
    assert list(work.iterdir()) == []  # no copy of the evidence is left behind

    # Given up: the scheduled job no longer takes it; asked for by name it is analysed again.
    assert run_quality_checks(archive_rig.sessions, archive_rig.store, cfg, work) == QualityRun()
    run = run_quality_checks(archive_rig.sessions, archive_rig.store, cfg, work, clip_id=clip)
    assert run.checked == {clip: "fail"}  # random bytes are no clip: "unreadable" is a real verdict
    rec, rows, _ = _record(archive_rig, clip)
    assert rec.quality_verdict == "fail" and "unreadable" in [r.code for r in rows]
    with archive_rig.sessions() as db:
        assert db.execute(select(QualityAttempt)).first() is None


def test_quality_check_command(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from center_platform.cli import main

    clip = archive_rig.archive(secrets.token_bytes(2048))
    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    assert main(["--config", config, "quality-check", "--clip", "f" * 32]) == 2
    assert f"no archived clip {'f' * 32}" in capsys.readouterr().err
    assert main(["--config", config, "quality-check"]) == 0
    assert f"{clip}: fail" in capsys.readouterr().out
    rec, _, _ = _record(archive_rig, clip)
    assert rec.quality_verdict == "fail"


def test_one_runner_at_a_time(archive_rig: ArchiveRig) -> None:
    from datetime import timedelta

    from center_platform.archive.clip_quality import JOB
    from center_platform.db import job_lock

    clip = archive_rig.archive(secrets.token_bytes(2048))
    assert job_lock.acquire(archive_rig.sessions, JOB, "another-center", timedelta(minutes=5))
    assert _run(archive_rig).busy
    rec, _, events = _record(archive_rig, clip)
    assert rec.quality_verdict is None and events == []  # nothing was even attempted
    job_lock.release(archive_rig.sessions, JOB, "another-center")
    assert _run(archive_rig).checked == {clip: "fail"}
