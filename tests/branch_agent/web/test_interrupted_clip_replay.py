"""A clip cut off by a crash replays at the counter like any other: recovery keeps the file as it is and
indexes it beside it; the player is served the clip's bytes with seek boxes inserted, by Range."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from branch_agent.db.models import INTERRUPTED, RECORDING, Clip
from branch_agent.spool.recovery import recover_interrupted
from branch_agent.spool.replay_index import index_path, load_or_build_index
from storage.mp4_index import scan_file
from storage.replay_view import replay_view
from storage.virtual_media import Original
from tests.branch_agent.web.harness import GOOD_SALE, PRODUCT, RM_A, Agent, sign_in
from tests.replay_clips import cut_mid_fragment, recorder_clip, view_bytes, without_insertions


def _crashed_recording(agent: Agent, source: Path) -> tuple[str, Path]:
    """A clip row still `recording` and its file cut off mid-fragment: what a power cut leaves."""
    svc = agent.svc
    clip_id = uuid.uuid4().hex
    started = datetime.now(UTC)
    day = svc.config.spool_dir / started.astimezone(svc.tz).strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    media = day / f"{clip_id}.mp4"
    cut_mid_fragment(source, media)
    sale = {k: v for k, v in GOOD_SALE.items() if k not in ("consent",)}
    sale.update(product_name=PRODUCT.name, product_type_code=PRODUCT.type_code)
    with svc.sessions() as db:
        db.add(
            Clip(
                clip_id=clip_id,
                counter_code="C01",
                staff_code=RM_A.code,
                business_serial=sale["business_serial"],
                sale_json=json.dumps(sale, ensure_ascii=False),
                state=RECORDING,
                media_path=str(media),
                started_at=started,
            )
        )
        db.commit()
    return clip_id, media


def test_an_interrupted_clip_replays_as_its_view_and_its_file_is_never_touched(
    agent_without_cameras: Agent, tmp_path: Path
) -> None:
    agent = agent_without_cameras
    clip_id, media = _crashed_recording(agent, recorder_clip(tmp_path / "full.mp4", 10))
    original = media.read_bytes()

    assert recover_interrupted(agent.svc.sessions, agent.svc.config.branch.code, agent.svc.key) == [clip_id]
    with agent.svc.sessions() as db:
        clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one()
        assert clip.state == INTERRUPTED and clip.sha256 == hashlib.sha256(original).hexdigest()
    assert index_path(media).exists()  # indexed at recovery, beside the clip

    view = replay_view(scan_file(media))
    served = view_bytes(view, original)
    rm = agent.client()
    sign_in(rm, RM_A)
    url = f"/api/clips/{clip_id}/media"
    r = rm.get(url, headers={"Range": "bytes=0-"})
    assert r.status_code == 206 and r.data == served
    assert r.headers["Content-Range"] == f"bytes 0-{len(served) - 1}/{len(served)}"
    assert without_insertions(view, r.data) == original
    # Across the first inserted box, and from the partial last fragment into the index that ends the view.
    first_insert = view.pieces[0].end if isinstance(view.pieces[0], Original) else 0
    for lo, hi in ((first_insert - 20, first_insert + 19), (len(original) - 100, len(served) - 1)):
        r = rm.get(url, headers={"Range": f"bytes={lo}-{hi}"})
        assert r.status_code == 206 and r.data == served[lo : hi + 1]
        assert r.headers["Content-Range"] == f"bytes {lo}-{hi}/{len(served)}"
    r = rm.get(url, headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.data[4:8] == b"mfro"
    assert rm.get(url, headers={"Range": f"bytes={len(served)}-"}).status_code == 416

    assert media.read_bytes() == original  # the evidence file is exactly what the recorder left

    index_path(media).unlink()  # lost or never made: made again on replay
    assert load_or_build_index(media) is not None and index_path(media).exists()
