"""Alerts reach a webhook (a real HTTP receiver on this machine): signed, grouped, tried again after a
refusal, and a flapping condition never becomes an alert at all."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from center_platform.config import AlertsSection, WebhookSection
from center_platform.db.models import AuditEvent, Branch, IngestUpload, Recording
from center_platform.db.operations_models import Alert, AlertDelivery
from center_platform.operations.alert_delivery import deliver_due, outbox
from center_platform.operations.alert_watch import sweep
from center_platform.operations.alerts import Condition, Debounce, Scope, acknowledge, observe
from storage.database import utcnow
from tests.center_platform.archive_rig import BRANCH_CODE, OTHER_BRANCH_CODE, ArchiveRig, archive_rig  # noqa: F401

HOOK_KEY = "webhook-key-for-tests"


@dataclass
class Receiver:
    url: str
    answers: list[int]  # status codes to give, in order; then 200
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rx = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rx.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(rx.answers.pop(0) if rx.answers else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rx.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield rx
    server.shutdown()
    server.server_close()


def _config(rx: Receiver, **kw: object) -> AlertsSection:
    hook = WebhookSection(name="ops", url=rx.url, secret_env="DR_TEST_ALERT_HOOK_KEY")
    return AlertsSection.model_validate({"webhooks": [hook.model_dump()], "retry_initial_s": 30, **kw})


def test_late_heartbeats_and_a_quarantine_reach_the_webhook_in_one_signed_post_after_a_refusal(
    archive_rig: ArchiveRig, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DR_TEST_ALERT_HOOK_KEY", HOOK_KEY)
    cfg = _config(receiver)
    sessions = archive_rig.sessions
    with sessions() as db:
        branch_id = db.execute(select(Branch.id).where(Branch.code == BRANCH_CODE)).scalar_one()
        db.add(
            IngestUpload(
                clip_id="q" * 32,
                branch_id=branch_id,
                manifest_json="{}",
                object_key="k",
                size=1,
                part_size=1,
                state="quarantined",
                reason="signature does not verify",
            )
        )
        db.commit()
    t0 = utcnow()
    assert sweep(sessions, cfg, t0) == []  # seen once: nothing raised, nothing sent
    assert deliver_due(sessions, cfg, t0).posts == 0
    raised = sweep(sessions, cfg, t0 + timedelta(minutes=1))
    # Both branches never sent a heartbeat, and one holds a quarantined clip.
    assert sorted((t.kind, t.subject) for t in raised) == [
        ("heartbeat_late", f"{BRANCH_CODE}/heartbeat"),
        ("heartbeat_late", f"{OTHER_BRANCH_CODE}/heartbeat"),
        ("quarantine", f"{BRANCH_CODE}/quarantine"),
    ]

    receiver.answers = [503]
    t1 = t0 + timedelta(minutes=1)
    first = deliver_due(sessions, cfg, t1)
    assert first.posts == 1 and first.sent == 0 and first.failed
    assert deliver_due(sessions, cfg, t1 + timedelta(seconds=10)).posts == 0  # backing off
    second = deliver_due(sessions, cfg, t1 + timedelta(seconds=31))
    assert second.posts == 1 and second.sent == 3
    assert len(receiver.posts) == 2
    headers, body = receiver.posts[1]
    expected = hmac.new(HOOK_KEY.encode(), headers["x-dr-timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-dr-signature"], expected)
    batch = json.loads(body)
    assert batch["count"] == 3 and batch["summary"] == {"raised:heartbeat_late": 2, "raised:quarantine": 1}
    quarantine = next(a for a in batch["alerts"] if a["kind"] == "quarantine")
    assert "signature does not verify" in quarantine["message"] and quarantine["kind_label"].startswith("隔离")

    # Still late, still quarantined: counted, never sent again.
    assert sweep(sessions, cfg, t1 + timedelta(minutes=1)) == []
    assert deliver_due(sessions, cfg, t1 + timedelta(minutes=2)).posts == 0
    with sessions() as db:
        alert = db.execute(select(Alert).where(Alert.kind == "quarantine")).scalar_one()
        assert alert.occurrences == 3
        acknowledge(db, alert.id, "compliance", "查看中 looking into it", t1 + timedelta(minutes=2), outbox(cfg))
        db.commit()
        assert [
            e.action for e in db.execute(select(AuditEvent).where(AuditEvent.target == f"alert:{alert.id}")).scalars()
        ] == [
            "alert.raised",
            "alert.acknowledged",
        ]
    third = deliver_due(sessions, cfg, t1 + timedelta(minutes=2))
    assert third.sent == 1 and json.loads(receiver.posts[2][1])["alerts"][0]["event"] == "acknowledged"


def test_a_flapping_condition_raises_nothing_and_sends_nothing(archive_rig: ArchiveRig, receiver: Receiver) -> None:
    cfg = _config(receiver)
    sessions = archive_rig.sessions
    scope = Scope(frozenset({"device_offline"}), f"{BRANCH_CODE}/")
    down = [Condition("device_offline", f"{BRANCH_CODE}/C01/environment", "offline")]
    t = utcnow()
    for n in range(10):  # down, up, down, up: never twice in a row
        with sessions() as db:
            assert (
                observe(db, scope, down if n % 2 == 0 else [], t + timedelta(minutes=n), Debounce(2, 2), outbox(cfg))
                == []
            )
            db.commit()
    with sessions() as db:
        assert db.execute(select(Alert)).first() is None and db.execute(select(AlertDelivery)).first() is None
    assert deliver_due(sessions, cfg, t + timedelta(hours=1)).posts == 0 and receiver.posts == []


def test_a_chain_gap_and_a_recording_failing_its_quality_check_are_alerts_until_resolved(
    archive_rig: ArchiveRig, receiver: Receiver
) -> None:
    cfg = _config(receiver)
    sessions = archive_rig.sessions
    # A clip whose predecessor never reached the center: a gap in the branch's chain.
    clip = archive_rig.archive(prev_manifest_sha256="ab" * 32)
    with sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id == clip).values(quality_verdict="fail"))
        db.commit()
    t0 = utcnow()
    sweep(sessions, cfg, t0)
    raised = {(t.kind, t.subject) for t in sweep(sessions, cfg, t0 + timedelta(minutes=1))}
    assert {("chain_gap", f"{BRANCH_CODE}/chain"), ("check_failed", f"{BRANCH_CODE}/quality")} <= raised
    with sessions() as db:
        gap = db.execute(select(Alert).where(Alert.kind == "chain_gap")).scalar_one()
        assert "1 段前序录像" in gap.message and "1 predecessors missing" in gap.message

    # The quality failure is more than a day old: after two sweeps without it, the alert clears.
    later = t0 + timedelta(days=1, minutes=2)
    sweep(sessions, cfg, later)
    cleared = sweep(sessions, cfg, later + timedelta(minutes=1))
    assert ("cleared", "check_failed") in {(t.event, t.kind) for t in cleared}
    assert ("cleared", "chain_gap") not in {(t.event, t.kind) for t in cleared}
