"""Spool purge: verified clips leave the disk after the keep period; unverified clips never do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import (
    COMPLETED,
    INTERRUPTED,
    PENDING,
    PURGED,
    QUARANTINED,
    UPLOADED,
    UPLOADING,
    VERIFIED,
    Clip,
    LocalAudit,
    UploadTransition,
)
from branch_agent.spool.purge_policy import purge_verified_clips
from storage.contract import routes
from storage.contract.reply_signing import ReplyReceipt

NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _receipt(clip_id: str) -> str:
    """The center's signed answer that it verified the clip, as the uploader keeps it."""
    body = json.dumps({"clip_id": clip_id, "state": "verified", "reason": "", "retain_until": None})
    return ReplyReceipt("POST", routes.upload_complete(clip_id), 200, 1, "n" * 32, body, "0" * 64).to_json()


def _clip(
    spool: Path, name: str, upload_state: str, age_days: float, verified: bool = False, state: str = COMPLETED
) -> Clip:
    media = spool / f"{name}.mp4"
    media.write_bytes(b"\0" * 1000)
    return Clip(
        verification_receipt=_receipt(name.ljust(32, "0")) if verified else None,
        clip_id=name.ljust(32, "0"),
        counter_code="C01",
        staff_code="1000001",
        business_serial=name,
        sale_json="{}",
        state=state,
        media_path=str(media),
        started_at=NOW - timedelta(days=age_days),
        size=1000,
        upload_state=upload_state,
        verified_at=NOW - timedelta(days=age_days - 1) if verified else None,
    )


def test_only_verified_clips_past_the_keep_period_are_purged_and_audited(tmp_path: Path) -> None:
    sessions = open_spool_db(f"sqlite:///{tmp_path / 'branch.db'}")
    spool = tmp_path / "spool"
    spool.mkdir()
    with sessions() as db:
        db.add(_clip(spool, "old_verified", VERIFIED, 31, verified=True))
        db.add(_clip(spool, "young_verified", VERIFIED, 29, verified=True))
        # Never verified, however old: each is the only copy of its evidence.
        for name, state in (
            ("pending", PENDING),
            ("uploading", UPLOADING),
            ("uploaded", UPLOADED),
            ("quarantined", QUARANTINED),
        ):
            db.add(_clip(spool, f"ancient_{name}", state, 3650))
        db.add(_clip(spool, "ancient_interrupted", PENDING, 3650, state=INTERRUPTED))
        db.commit()

    purged = purge_verified_clips(sessions, keep_verified_days=30, now=NOW)

    old = "old_verified".ljust(32, "0")
    assert [(p.clip_id, p.bytes_freed, p.file_was_missing) for p in purged] == [(old, 1000, False)]
    assert sorted(p.stem for p in spool.glob("*.mp4")) == sorted(
        [
            "young_verified",
            "ancient_pending",
            "ancient_uploading",
            "ancient_uploaded",
            "ancient_quarantined",
            "ancient_interrupted",
        ]
    )
    with sessions() as db:
        states = {c.business_serial: c.upload_state for c in db.execute(select(Clip)).scalars()}
        assert states["old_verified"] == PURGED and states["young_verified"] == VERIFIED
        assert states["ancient_quarantined"] == QUARANTINED and states["ancient_pending"] == PENDING
        [move] = db.execute(select(UploadTransition)).scalars().all()
        assert (move.clip_id, move.from_state, move.to_state) == (old, VERIFIED, PURGED)
        [line] = db.execute(select(LocalAudit)).scalars().all()
        assert (line.actor, line.action, line.target) == ("system", "spool.purged", old)
        assert json.loads(line.detail)["bytes"] == 1000

    # A second run (the next night) has nothing to do; nothing is purged twice.
    assert purge_verified_clips(sessions, keep_verified_days=30, now=NOW) == []
    # Ten years on, the unverified clips are still there.
    assert purge_verified_clips(sessions, keep_verified_days=30, now=NOW + timedelta(days=3650)) != []
    assert len(list(spool.glob("ancient_*.mp4"))) == 5
