"""The branch's quality check of closed clips: clips left unchecked by a restart are checked when the
agent starts, the verdict and report are kept with the clip and audited, and a clip whose media cannot
be read fails; it is never taken for a pass."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from branch_agent.config import QualitySection
from branch_agent.counter.quality_worker import ClipQualityWorker, ClipVerdict
from branch_agent.db.models import Clip, LocalAudit
from storage.quality.report import QualityReport
from tests.branch_agent.counter.test_counter_session import SALE, counter  # noqa: F401

VERDICT_WAIT_S = 180


def _wait(worker: ClipQualityWorker, clip_id: str) -> ClipVerdict:
    deadline = time.monotonic() + VERDICT_WAIT_S
    while (verdict := worker.verdict(clip_id)).state in ("queued", "checking"):
        assert time.monotonic() < deadline, f"no verdict on {clip_id}"
        time.sleep(0.3)
    return verdict


def test_clips_closed_before_a_restart_are_checked_and_the_verdict_kept(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, _ = counter
    session.start("1000001", SALE)
    time.sleep(2.5)
    good = session.complete("1000001")
    session.start("1000001", SALE)
    time.sleep(1.5)
    broken = session.complete("1000001")
    broken.media_path.write_bytes(b"not a video at all")

    roles = {"C01": {}}  # the synthetic sources' names are not needed for these verdicts
    worker = ClipQualityWorker(sessions, QualitySection(), lambda: False, lambda code: roles.get(code, {}))
    assert worker.verdict(good.clip_id).state == "queued"  # closed, not yet checked
    worker.start()
    try:
        first, second = _wait(worker, good.clip_id), _wait(worker, broken.clip_id)
    finally:
        worker.stop()

    # Synthetic cameras show no face and no person; the tone is no voice.
    assert first.state == "done" and first.report is not None and first.report.verdict == "fail"
    assert {"no_face", "no_speech"} <= first.report.codes()
    assert second.state == "done" and second.report is not None and second.report.verdict == "fail"
    assert "unreadable" in second.report.codes()
    with sessions() as db:
        rows = {c.clip_id: c for c in db.execute(select(Clip)).scalars()}
        audits = [
            (a.action, a.target, json.loads(a.detail))
            for a in db.execute(select(LocalAudit).where(LocalAudit.action.like("quality.%"))).scalars()
        ]
    assert rows[good.clip_id].quality_verdict == "fail"
    kept = QualityReport.model_validate_json(rows[good.clip_id].quality_report_json or "")
    assert kept.verdict == "fail" and kept.findings == first.report.findings
    assert sorted((action, target) for action, target, _ in audits) == sorted(
        [("quality.checked", good.clip_id), ("quality.checked", broken.clip_id)]
    )
    assert all(detail["verdict"] == "fail" for _, _, detail in audits)
