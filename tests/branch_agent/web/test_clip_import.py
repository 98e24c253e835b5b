"""The branch admin imports a recording made on another device: a real MP4 is kept, signed and queued as
imported; a file that is not a video, or a form without its reason, is refused and nothing is kept."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from sqlalchemy import select

from branch_agent.db.models import PENDING, Clip, LocalAudit
from storage.manifest import ClipManifest
from tests.branch_agent.web.harness import ADMIN, COUNTER, GOOD_SALE, RM_A, Agent, sign_in


def make_mp4(path: Path, seconds: float = 1.0, *, sound: bool = True, noise: bool = False) -> bytes:
    """A small H.264 + AAC MP4, as a phone or another recorder would leave it; with `noise`, losslessly
    coded random pictures make it megabytes."""
    rng = np.random.default_rng(7)
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"preset": "ultrafast", **({"crf": "0"} if noise else {})}
        audio = out.add_stream("aac", rate=48000) if sound else None
        for i in range(int(25 * seconds)):
            img = (
                rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
                if noise
                else np.full((240, 320, 3), (i * 9) % 255, dtype=np.uint8)
            )
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None:
            samples = 1024
            for n in range(int(48000 * seconds) // samples):
                tone = (np.sin(np.arange(samples) / 8.0) * 8000).astype(np.int16).reshape(1, -1)
                af = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, n * samples, Fraction(1, 48000)
                out.mux(audio.encode(af))
            out.mux(audio.encode())
    return path.read_bytes()


def import_form(agent: Agent, body: bytes, file_name: str = "phone-0415.mp4", **changes: str) -> dict[str, object]:
    recorded = (datetime.now(agent.svc.tz) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    form: dict[str, object] = {
        **GOOD_SALE,
        "business_serial": "SN-IMPORT-0001",
        "counter_code": COUNTER,
        "staff_code": RM_A.code,
        "recorded_at": recorded,
        "device": "网点备用摄像机 spare camcorder",
        "reason": "双录设备故障，使用备用设备录制 / appliance down, recorded on the spare",
        **changes,
    }
    form["file"] = (io.BytesIO(body), file_name)
    return form


def _spool_files(agent: Agent) -> list[Path]:
    return [p for p in agent.config.spool_dir.rglob("*") if p.is_file() and p.suffix != ".db" and "-wal" not in p.name]


def test_a_real_recording_is_imported_signed_and_queued(agent_without_cameras: Agent, tmp_path: Path) -> None:
    agent = agent_without_cameras
    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    body = make_mp4(tmp_path / "phone.mp4")
    r = admin.post(
        "/api/admin/imports", data=import_form(agent, body), headers=csrf, content_type="multipart/form-data"
    )
    assert r.status_code == 201, r.get_json()
    clip_id = r.get_json()["clip_id"]
    assert r.get_json()["origin"] == "imported"
    with agent.svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
        assert clip.upload_state == PENDING and clip.business_serial == "SN-IMPORT-0001"
        assert Path(clip.media_path).read_bytes() == body
        manifest = ClipManifest.parse(Path(clip.manifest_path or "").read_bytes())
    manifest.verify(agent.svc.key.public_key_b64)
    assert manifest.origin == "imported" and manifest.imported is not None
    assert manifest.imported.original_file_name == "phone-0415.mp4"
    assert manifest.imported.imported_by == ADMIN.code and manifest.staff_code == RM_A.code
    assert manifest.media.video_codec == "h264" and manifest.media.audio_codec == "aac"
    assert 900 <= manifest.duration_ms <= 1200

    # The next one chains on it, like any clip; megabytes stream into the spool like a few kilobytes.
    big = make_mp4(tmp_path / "big.mp4", noise=True)
    assert len(big) > 2 * 1024 * 1024
    r = admin.post(
        "/api/admin/imports",
        data=import_form(agent, big, business_serial="SN-IMPORT-0002"),
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    with agent.svc.sessions() as db:
        second = db.execute(select(Clip).where(Clip.clip_id == r.get_json()["clip_id"])).scalar_one()
        following = ClipManifest.parse(Path(second.manifest_path or "").read_bytes())
    assert following.prev_manifest_sha256 == manifest.manifest_sha256()


def test_a_file_that_is_not_a_video_is_refused_and_nothing_kept(agent_without_cameras: Agent, tmp_path: Path) -> None:
    agent = agent_without_cameras
    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    before = _spool_files(agent)
    for body, name in (
        ("客户签字单扫描件".encode() * 200, "scan.mp4"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(4000), "broken.mp4"),
    ):
        r = admin.post(
            "/api/admin/imports", data=import_form(agent, body, name), headers=csrf, content_type="multipart/form-data"
        )
        assert r.status_code == 422, r.get_json()
        message = r.get_json()["error"]
        assert message.startswith("文件不是可播放的MP4录像") and "not a playable MP4 recording" in message
    no_sound = make_mp4(tmp_path / "mute.mp4", sound=False)
    r = admin.post(
        "/api/admin/imports", data=import_form(agent, no_sound), headers=csrf, content_type="multipart/form-data"
    )
    assert r.status_code == 422 and "no sound" in r.get_json()["error"]
    assert _spool_files(agent) == before
    with agent.svc.sessions() as db:
        assert db.execute(select(Clip)).scalars().all() == []
        refused = db.execute(select(LocalAudit).where(LocalAudit.action == "recording.import_refused")).scalars().all()
        assert len(refused) == 3 and json.loads(refused[0].detail)["file"] == "scan.mp4"


def test_the_form_is_checked_like_a_counter_sale(agent_without_cameras: Agent, tmp_path: Path) -> None:
    agent = agent_without_cameras
    admin = agent.client()
    csrf = sign_in(admin, ADMIN)
    body = make_mp4(tmp_path / "phone.mp4")
    future = (datetime.now(agent.svc.tz) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = import_form(agent, body, reason="", card_number="6222021234567890129", recorded_at=future, staff_code="9")
    r = admin.post("/api/admin/imports", data=form, headers=csrf, content_type="multipart/form-data")
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert set(fields) == {"reason", "card_number", "recorded_at", "staff_code"}
    assert fields["reason"].startswith("请输入导入原因")
    assert _spool_files(agent) == [] or all(
        p.suffix != ".mp4" and ".import-" not in p.name for p in _spool_files(agent)
    )

    # A relationship manager cannot import.
    rm = agent.client()
    rm_csrf = sign_in(rm, RM_A)
    r = rm.post(
        "/api/admin/imports", data=import_form(agent, body), headers=rm_csrf, content_type="multipart/form-data"
    )
    assert r.status_code == 403
