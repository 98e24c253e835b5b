"""Live preview JPEG, camera problems named at once, and the admin's disk / upload / camera overview."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from branch_agent.config import LayoutSection
from branch_agent.db.models import LocalAudit
from branch_agent.spool.disk_forecast import daily_rate
from branch_agent.web.preview import PREVIEW_HEIGHT, PREVIEW_WIDTH, PreviewRenderer, preview_layout
from tests.branch_agent.web.harness import ADMIN, COUNTER, GOOD_SALE, RM_A, Agent, sign_in


def _wait_for_pictures(agent: Agent) -> None:
    sources = agent.svc.sources[COUNTER]
    deadline = time.monotonic() + 20
    while sources.environment.latest_frame() is None or sources.desk.latest_frame() is None:
        assert time.monotonic() < deadline, "the synthetic cameras produced no picture"
        time.sleep(0.05)


def test_preview_is_the_picture_in_picture_composite_as_a_small_jpeg(agent: Agent) -> None:
    _wait_for_pictures(agent)
    client = agent.client()
    assert client.get(f"/api/counters/{COUNTER}/preview.jpg").status_code == 401
    sign_in(client, RM_A)
    r = client.get(f"/api/counters/{COUNTER}/preview.jpg")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.headers["Cache-Control"] == "no-store"
    picture = cv2.imdecode(np.frombuffer(r.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture.shape == (PREVIEW_HEIGHT, PREVIEW_WIDTH)
    # The desk camera (bright) sits in the configured corner of the environment camera (dark).
    layout = preview_layout(agent.config.counters[0].layout)
    x, y = layout.inset_origin()
    inset = picture[y + 4 : y + layout.inset_height - 4, x + 4 : x + layout.inset_width - 4]
    background = picture[8 : y - 8, 8 : x - 8]
    assert float(inset.mean()) > float(background.mean()) + 40


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def test_preview_is_rendered_at_most_once_per_cache_period(agent: Agent) -> None:
    _wait_for_pictures(agent)
    clock = FakeClock()
    renderer = PreviewRenderer(agent.svc.sources[COUNTER], LayoutSection(), clock=clock)
    first = renderer.jpeg()
    clock.now += 0.1
    assert renderer.jpeg() is first and renderer.renders == 1
    clock.now += 0.2
    renderer.jpeg()
    assert renderer.renders == 2


def test_a_camera_problem_names_the_camera_and_what_is_wrong(agent: Agent) -> None:
    _wait_for_pictures(agent)
    client = agent.client()
    sign_in(client, RM_A)
    status = client.get(f"/api/counters/{COUNTER}/status").get_json()
    assert status["problems"] == [] and [s["role"] for s in status["sources"]] == ["environment", "desk", "microphone"]
    # Every health field the source reports reaches the screen.
    assert {
        "name",
        "connected",
        "last_frame_age_s",
        "fps",
        "errors",
        "reconnects",
        "detail",
        "kind",
        "bitrate_kbps",
        "clock_offset_s",
    } <= set(status["sources"][1])
    agent.svc.sources[COUNTER].desk.close()
    status = client.get(f"/api/counters/{COUNTER}/status").get_json()
    [problem] = status["problems"]
    assert "桌面摄像头" in problem and "desk camera" in problem and "未连接 / not connected" in problem
    assert agent.svc.sources[COUNTER].desk.name in problem
    # The preview keeps working with the camera gone: the banner, not a broken image, says why.
    assert client.get(f"/api/counters/{COUNTER}/preview.jpg?bg=1&t=2").status_code == 200


def test_admin_overview_shows_disk_days_left_queue_and_upload_failures(agent: Agent) -> None:
    rm = agent.client()
    csrf = sign_in(rm, RM_A)
    assert rm.post(f"/api/counters/{COUNTER}/recording", json=GOOD_SALE, headers=csrf).status_code == 201
    time.sleep(1.5)
    clip = rm.post(f"/api/counters/{COUNTER}/recording/complete", headers=csrf).get_json()

    admin = agent.client()
    admin_csrf = sign_in(admin, ADMIN)
    o = admin.get("/api/admin/overview").get_json()
    assert o["disk"]["spool_bytes"] == clip["size"]
    assert o["disk"]["daily_bytes"] == pytest.approx(clip["size"])  # one clip within the first day
    assert o["disk"]["days_left"] == pytest.approx(o["disk"]["free_bytes"] / clip["size"])
    assert [q["clip_id"] for q in o["upload_queue"]] == [clip["clip_id"]]
    assert [c["code"] for c in o["counters"]] == [COUNTER]

    # The center is not reachable here: "upload now" leaves the clip queued with the reason shown.
    r = admin.post("/api/uploads/run", headers=admin_csrf)
    assert r.status_code == 200 and r.get_json()["results"] == []
    [queued] = admin.get("/api/admin/overview").get_json()["upload_queue"]
    assert queued["attempts"] == 1 and "unreachable" in queued["error"]
    with agent.svc.sessions() as db:
        runs = db.execute(select(LocalAudit).where(LocalAudit.action == "upload.run")).scalars().all()
    assert [a.actor for a in runs] == [ADMIN.code]


def test_daily_rate_uses_the_days_since_the_first_clip_within_a_week() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert daily_rate([], now) == 0
    two_days = [(now - timedelta(days=2), 4_000), (now - timedelta(hours=1), 2_000)]
    assert daily_rate(two_days, now) == pytest.approx(3_000)
    old_and_new = [(now - timedelta(days=30), 10**9), (now - timedelta(days=7), 7_000), (now, 7_000)]
    assert daily_rate(old_and_new, now) == pytest.approx(2_000)
