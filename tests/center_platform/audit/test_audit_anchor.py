"""The audit trail anchored in the store: a cut tail or a rewritten trail is found, whatever the database says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from center_platform.audit import trail as audit
from center_platform.audit.anchor import object_key, sign, stored_checkpoints, write_checkpoint
from center_platform.cli import main as cli_main
from center_platform.db.models import AuditEvent, AuditHead
from center_platform.scheduler import anchor_audit_trail
from storage.object_store import StorageError
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401


def _activity(rig: ArchiveRig, lines: int) -> None:
    with rig.sessions() as db:
        for n in range(lines):
            audit.append(db, "compliance", "recording.viewed", f"clip-{n}", {"n": n})
        db.commit()


def _anchors(rig: ArchiveRig) -> audit.Anchors:
    return audit.Anchors(stored_checkpoints(rig.store, rig.config.audit.checkpoint_prefix), rig.config.audit_key())


def _verify(rig: ArchiveRig, anchored: bool = True) -> list[str]:
    with rig.sessions() as db:
        return [p.problem for p in audit.verify_chain(db, anchors=_anchors(rig) if anchored else None)]


def _cut_tail(rig: ArchiveRig, rows: int) -> None:
    """What someone with write access to the database does to hide the last actions: rows and head together."""
    with rig.sessions() as db:
        ids = list(db.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(rows)).scalars())
        db.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        tip = db.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        total = len(list(db.execute(select(AuditEvent.id)).scalars()))
        db.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=tip.hash, count=total))
        db.commit()


def test_cut_tail_with_head_rewound_is_found_only_by_the_checkpoint(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _activity(archive_rig, 6)
    anchor_audit_trail(archive_rig.app.extensions["center"])
    assert _verify(archive_rig) == []
    _cut_tail(archive_rig, 3)
    # The chain alone is consistent again: this is the gap the checkpoint closes.
    assert _verify(archive_rig, anchored=False) == []
    problems = _verify(archive_rig)
    assert len(problems) == 1 and "rows removed at the end" in problems[0]
    config = str(archive_rig.write_cli_config(tmp_path / "center.toml", monkeypatch))
    assert cli_main(["--config", config, "audit", "verify"]) == 1
    assert "rows removed at the end" in capsys.readouterr().out


def test_a_trail_rewritten_from_a_row_onwards_differs_from_the_checkpoint(archive_rig: ArchiveRig) -> None:
    _activity(archive_rig, 4)
    anchor_audit_trail(archive_rig.app.extensions["center"])
    with archive_rig.sessions() as db:
        rows = list(db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        # Edit one row and recompute every hash after it, head included: a consistent, forged chain.
        prev = rows[0].prev_hash
        for i, row in enumerate(rows):
            detail = '{"forged": true}' if i == len(rows) // 2 else row.detail
            digest = audit.event_hash(prev, row.at, row.actor, row.action, row.target, detail)
            row.detail, row.prev_hash, row.hash = detail, prev, digest
            prev = digest
        db.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))
        db.commit()
    assert _verify(archive_rig, anchored=False) == []
    problems = _verify(archive_rig)
    assert len(problems) == 1 and "trail was rewritten" in problems[0]


def test_checkpoint_is_locked_and_a_forged_one_is_named(archive_rig: ArchiveRig) -> None:
    _activity(archive_rig, 2)
    svc = archive_rig.app.extensions["center"]
    anchor_audit_trail(svc)
    [stored] = stored_checkpoints(archive_rig.store, archive_rig.config.audit.checkpoint_prefix)
    assert stored.checkpoint is not None
    [version] = archive_rig.store.list_versions(stored.key)
    info = archive_rig.store.head(stored.key, version.version_id)
    assert info.lock_mode == "COMPLIANCE"
    assert info.retain_until is not None and info.retain_until > datetime.now(UTC) + timedelta(days=365 * 29)
    with pytest.raises(StorageError):
        archive_rig.store.delete_version(stored.key, version.version_id)
    # Nothing new to anchor: no second object for the same head.
    with archive_rig.sessions() as db:
        assert (
            write_checkpoint(db, archive_rig.store, archive_rig.config.audit.checkpoint_prefix, b"k", timedelta(1))
            is None
        )
    # A checkpoint written by someone without the key (claiming a longer trail) is reported, not trusted.
    forged = sign(b"not-the-archive-key", stored.checkpoint.count + 5, "f" * 64, datetime.now(UTC))
    archive_rig.store.put_small(
        object_key(archive_rig.config.audit.checkpoint_prefix, forged.count),
        forged.to_json(),
        "application/json",
        locked_until=datetime.now(UTC) + timedelta(days=1),
    )
    problems = _verify(archive_rig)
    assert len(problems) == 1 and "fails its HMAC" in problems[0]
