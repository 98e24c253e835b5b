"""A sale recorded through the API with the real recorder; replay by Range; who may see which clip."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from branch_agent.db.models import Clip, LocalAudit
from branch_agent.spool.replay_index import index_path
from storage.mp4_index import scan_file
from storage.replay_view import replay_view
from tests.branch_agent.web.harness import ADMIN, COUNTER, GOOD_SALE, RM_A, RM_B, Agent, sign_in
from tests.replay_clips import view_bytes


def _actions(agent: Agent, target: str) -> list[tuple[str, str]]:
    with agent.svc.sessions() as db:
        return [
            (a.actor, a.action)
            for a in db.execute(select(LocalAudit).where(LocalAudit.target == target).order_by(LocalAudit.id)).scalars()
        ]


def test_record_replay_and_keep_other_managers_out(agent: Agent) -> None:
    rm = agent.client()
    csrf = sign_in(rm, RM_A)
    # Spaces typed or pasted into the numbers are not the customer's mistake.
    sale = {**GOOD_SALE, "card_number": "6222 0212 3456 7890 128", "id_number": "11010519491231002x"}
    r = rm.post(f"/api/counters/{COUNTER}/recording", json=sale, headers=csrf)
    assert r.status_code == 201, r.get_json()
    clip_id = r.get_json()["clip_id"]
    assert "投资须谨慎" in r.get_json()["disclosure_script"]

    other = agent.client()
    other_csrf = sign_in(other, RM_B)
    # The counter is busy, and only the manager who started may mark, cancel or complete.
    assert other.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers=other_csrf).status_code == 409
    assert other.post(f"/api/counters/{COUNTER}/recording/complete", headers=other_csrf).status_code == 403
    status = other.get(f"/api/counters/{COUNTER}/status").get_json()["recording"]
    assert status["mine"] is False and "customer_name" not in status

    time.sleep(1.5)
    r = rm.post(f"/api/counters/{COUNTER}/recording/markers", json={"kind": "risk_disclosed"}, headers=csrf)
    assert r.status_code == 201
    status = rm.get(f"/api/counters/{COUNTER}/status").get_json()["recording"]
    assert status["mine"] and status["clip_id"] == clip_id and status["customer_name"] == "张三"
    assert [m["kind"] for m in status["markers"]] == ["risk_disclosed"] and status["elapsed_ms"] > 0
    time.sleep(1.5)
    r = rm.post(f"/api/counters/{COUNTER}/recording/complete", headers=csrf)
    assert r.status_code == 200, r.get_json()
    done = r.get_json()
    assert done["state"] == "completed"
    assert rm.get(f"/api/counters/{COUNTER}/status").get_json()["recording"] is None

    with agent.svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
    stored_sale = json.loads(clip.sale_json)
    assert stored_sale["card_number"] == "6222021234567890128" and stored_sale["id_number"] == "11010519491231002X"
    media = Path(clip.media_path).read_bytes()
    assert len(media) == done["size"]

    [listed] = rm.get("/api/clips").get_json()["clips"]
    assert listed["clip_id"] == clip_id and listed["upload_state"] == "pending"
    assert listed["card_number_masked"] == "622202*********0128" and listed["id_number_masked"] == "1101**********002X"
    assert "6222021234567890128" not in json.dumps(listed)

    # Replay by Range of the clip's replay view (its bytes with seek boxes inserted); shown inline, never as an
    # attachment, never cached.
    assert index_path(Path(clip.media_path)).exists()  # indexed for replay when completed
    served = view_bytes(replay_view(scan_file(Path(clip.media_path))), media)
    r = rm.get(f"/api/clips/{clip_id}/media", headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206 and r.data == served[100:1100]
    assert r.headers["Content-Range"] == f"bytes 100-1099/{len(served)}"
    assert r.headers["Content-Disposition"] == "inline" and r.headers["Cache-Control"] == "no-store"
    r = rm.get(f"/api/clips/{clip_id}/media", headers={"Range": f"bytes={len(served) - 500}-"})
    assert r.status_code == 206 and r.data == served[-500:]

    # Another manager neither sees nor fetches it; the attempt is audited.
    assert other.get("/api/clips").get_json()["clips"] == []
    r = other.get(f"/api/clips/{clip_id}/media", headers={"Range": "bytes=0-99"})
    assert r.status_code == 403 and "本人当日" in r.get_json()["error"]

    # The admin sees every clip of the branch and may replay it.
    admin = agent.client()
    sign_in(admin, ADMIN)
    assert [c["clip_id"] for c in admin.get("/api/clips").get_json()["clips"]] == [clip_id]
    assert admin.get(f"/api/clips/{clip_id}/media", headers={"Range": "bytes=0-9"}).status_code == 206

    assert _actions(agent, clip_id) == [
        (RM_A.code, "recording.started"),
        (RM_A.code, "recording.completed"),
        (RM_A.code, "replay"),
        (RM_B.code, "replay.denied"),
        (ADMIN.code, "replay"),
    ]

    # Yesterday's clip is no longer the manager's to replay at the counter.
    with agent.svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
        clip.started_at = clip.started_at - timedelta(days=1)
        db.commit()
    assert rm.get("/api/clips").get_json()["clips"] == []
    assert rm.get(f"/api/clips/{clip_id}/media").status_code == 403


def test_cancel_needs_a_reason_keeps_no_clip_and_is_audited(agent: Agent) -> None:
    rm = agent.client()
    csrf = sign_in(rm, RM_A)
    clip_id = rm.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers=csrf).get_json()["clip_id"]
    time.sleep(1.0)
    assert rm.post(f"/api/counters/{COUNTER}/recording/cancel", json={}, headers=csrf).status_code == 422
    r = rm.post(
        f"/api/counters/{COUNTER}/recording/cancel", json={"reason": "客户放弃办理 Customer withdrew"}, headers=csrf
    )
    assert r.status_code == 200
    assert rm.get("/api/clips").get_json()["clips"] == []
    assert rm.get(f"/api/clips/{clip_id}/media").status_code == 404
    assert _actions(agent, clip_id) == [(RM_A.code, "recording.started"), (RM_A.code, "recording.cancelled")]
