"""What a take carries besides the sale, against the real recorder: the product's required moments
(and the reason when one is missing), the customer's consent, a re-recording that keeps the first
clip, a supplementary recording with its reason and time of sale, a refusal that blocks the sale,
and all of it still there when the agent is killed mid-recording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.take_reports import cancelled_takes
from branch_agent.config import load_branch_config
from branch_agent.counter.session import REFUSED_REASON, RequiredMarkersMissing
from branch_agent.counter.take_origin import take_context_from_form
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import CANCELLED, COMPLETED, Clip, LocalAudit, SyncedProduct
from branch_agent.spool.recovery import recover_interrupted
from branch_agent.spool.take_context import TakeContext
from storage.manifest import ClipManifest
from storage.signing import SigningKey
from tests.branch_agent.counter.test_counter_session import REPO, SALE, _config, counter  # noqa: F401

STEPS = ["风险揭示", "产品介绍", "客户确认"]
TZ = ZoneInfo("Asia/Shanghai")


def _product(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        db.add(
            SyncedProduct(
                code=SALE.product_code,
                name=SALE.product_name,
                type_code=SALE.product_type_code,
                type_name="固定期限",
                term_days=90,
                risk_level="R2",
                required_markers=json.dumps(STEPS, ensure_ascii=False),
                min_duration_s=30,
            )
        )
        db.commit()


def test_complete_without_a_required_moment_needs_a_reason_that_goes_into_the_manifest(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, key = counter
    _product(sessions)
    session.start("1000001", SALE)
    session.add_marker("risk_disclosed")
    session.add_marker("note", "产品介绍")
    assert [(name, at is not None) for name, at in session.step_progress()] == [
        ("风险揭示", True),
        ("产品介绍", True),
        ("客户确认", False),
    ]
    time.sleep(1.5)
    with pytest.raises(RequiredMarkersMissing) as refused:
        session.complete("1000001")
    assert refused.value.missing == ["客户确认"] and "客户确认" in str(refused.value)
    assert session.active_clip is not None  # still recording: nothing was closed
    summary = session.complete("1000001", "客户口头确认，未按确认键")
    manifest = ClipManifest.parse(summary.manifest_path.read_bytes())
    manifest.verify(key.public_key_b64)
    assert manifest.markers_missing_reason == "客户口头确认，未按确认键"
    assert [(m.kind, m.text) for m in manifest.markers] == [("risk_disclosed", ""), ("note", "产品介绍")]
    assert manifest.consent is not None and manifest.consent.at_ms == 0
    assert abs(manifest.consent.given_at - manifest.started_at) < timedelta(seconds=5)
    assert manifest.origin == "recorded"


def test_a_re_recording_names_the_first_clip_which_stays(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, key = counter
    session.start("1000001", SALE)
    time.sleep(1.2)
    first = session.complete("1000001")
    with sessions() as db:
        wrong = take_context_from_form(
            {"origin": "re_recorded", "earlier_clip_id": first.clip_id}, "ANOTHER-SERIAL", db, TZ, 90
        )
        context = take_context_from_form(
            {"origin": "re_recorded", "earlier_clip_id": first.clip_id}, SALE.business_serial, db, TZ, 90
        )
    assert isinstance(wrong, list) and "SN-42" in wrong[0].message and wrong[0].field == "earlier_clip_id"
    assert isinstance(context, TakeContext)
    session.start("1000001", SALE, context)
    time.sleep(1.2)
    second = session.complete("1000001")
    manifest = ClipManifest.parse(second.manifest_path.read_bytes())
    manifest.verify(key.public_key_b64)
    assert manifest.origin == "re_recorded" and manifest.earlier_clip_id == first.clip_id
    with sessions() as db:
        states = {c.clip_id: c.state for c in db.execute(select(Clip)).scalars()}
    assert states == {first.clip_id: COMPLETED, second.clip_id: COMPLETED}
    assert first.media_path.exists()


def test_supplementary_form_is_checked_field_by_field(counter) -> None:  # type: ignore[no-untyped-def]
    _, sessions, _ = counter
    now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    with sessions() as db:

        def form(**fields: str) -> TakeContext | list[str]:
            out = take_context_from_form({"origin": "supplementary", **fields}, SALE.business_serial, db, TZ, 90, now)
            return [e.field for e in out] if isinstance(out, list) else out

        assert form(sale_time="2026-12-03T15:30") == ["supplementary_reason"]
        assert form(supplementary_reason="原录像中断") == ["sale_time"]
        assert form(supplementary_reason="原录像中断", sale_time="2026-12-05T09:00") == ["sale_time"]  # future
        assert form(supplementary_reason="原录像中断", sale_time="2026-06-01T09:00") == ["sale_time"]  # too old
        assert form(supplementary_reason="原录像中断", sale_time="yesterday") == ["sale_time"]
        assert form(supplementary_reason="x", sale_time="2026-12-03T15:30", earlier_clip_id="f" * 32) == [
            "earlier_clip_id"
        ]
        good = form(supplementary_reason="原录像中断", sale_time="2026-12-03T15:30")
    assert isinstance(good, TakeContext) and good.supplementary is not None
    # Entered in the branch's time zone, kept in UTC.
    assert good.supplementary.sale_at == datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


def test_a_refusal_blocks_the_sale_and_reaches_the_center_as_a_cancelled_take(counter) -> None:  # type: ignore[no-untyped-def]
    session, sessions, _ = counter
    clip_id = session.refuse("1000001", SALE)
    with sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
        lines = list(db.execute(select(LocalAudit).order_by(LocalAudit.id)).scalars())
        reports = cancelled_takes(db, lines)
    assert clip.state == CANCELLED and not Path(clip.media_path).exists()
    assert [(a.action, a.target) for a in lines] == [
        ("sale.recording_refused", SALE.business_serial),
        ("recording.cancelled", clip_id),
    ]
    assert [(r.business_serial, r.reason) for r in reports] == [(SALE.business_serial, REFUSED_REASON)]


def test_kill_9_keeps_the_takes_markers_consent_and_origin(tmp_path: Path) -> None:
    config_path = _config(tmp_path)
    sale_at = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    script = textwrap.dedent(f"""
        import sys, time
        from datetime import datetime
        from branch_agent.config import load_branch_config
        from branch_agent.spool.clip_manifest import SaleInfo
        from branch_agent.spool.take_context import TakeContext
        from branch_agent.counter.session import CounterSession
        from branch_agent.counter.sources import build_sources
        from branch_agent.db.engine import open_spool_db
        from storage.manifest import Supplementary
        from storage.signing import SigningKey
        config = load_branch_config(__import__("pathlib").Path({str(config_path)!r}))
        sources = build_sources(config, config.counters[0]); sources.open()
        s = CounterSession(config, config.counters[0], open_spool_db(config.database_url()),
                           SigningKey.load_or_create(config.key_path), sources)
        context = TakeContext(origin="supplementary", supplementary=Supplementary(
            reason="原录像设备故障", sale_at=datetime.fromisoformat({sale_at.isoformat()!r})))
        s.start("1000001", SaleInfo(*{list(SALE.__dict__.values())!r}), context)
        time.sleep(1.5)
        s.add_marker("risk_disclosed")
        print("recording", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "recording"
    time.sleep(3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    config = load_branch_config(config_path)
    sessions = open_spool_db(config.database_url())
    key = SigningKey.load_or_create(config.key_path)
    assert len(recover_interrupted(sessions, config.branch.code, key)) == 1
    with sessions() as db:
        clip = db.execute(select(Clip)).scalar_one()
    manifest = ClipManifest.parse(Path(clip.manifest_path or "").read_bytes())
    manifest.verify(key.public_key_b64)
    assert manifest.state == "interrupted" and manifest.origin == "supplementary"
    assert manifest.supplementary is not None and manifest.supplementary.sale_at == sale_at
    assert manifest.supplementary.reason == "原录像设备故障"
    assert [m.kind for m in manifest.markers] == ["risk_disclosed"]
    assert manifest.consent is not None
