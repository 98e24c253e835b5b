"""Start-up recovery: a clip whose recording was cut off (crash, power loss, kill -9) becomes *interrupted*.

The fragmented MP4 is playable up to its last durable fragment; the clip gets a manifest of its own
(state `interrupted`, duration as far as the file plays) and is uploaded like any other. Nothing is
silently dropped: a row whose media never reached the disk is closed with an audit line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.db.models import CANCELLED, INTERRUPTED, RECORDING, Clip
from branch_agent.spool.clip_manifest import SaleInfo, audit_local, build_manifest, chain_head, commit_manifest
from branch_agent.spool.replay_index import build_index_quietly
from branch_agent.spool.take_context import TakeContext
from storage.manifest import sha256_file
from storage.signing import SigningKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayableMedia:
    duration_ms: int
    video_codec: str
    width: int
    height: int
    fps: int
    audio_codec: str
    sample_rate: int


def probe_playable(path: Path) -> PlayableMedia | None:
    """How far the file really plays: the end of the last video packet that can be read."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            end = 0.0
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            ctx = video.codec_context
            fps = round(float(video.average_rate or video.guessed_rate or 25))
            return PlayableMedia(
                duration_ms=int(end * 1000),
                video_codec=ctx.name,
                width=ctx.width,
                height=ctx.height,
                fps=fps,
                audio_codec=audio.codec_context.name if audio else "none",
                sample_rate=audio.codec_context.sample_rate if audio else 48000,
            )
    except (av.error.FFmpegError, OSError) as exc:
        log.warning("%s cannot be read as MP4: %s", path, exc)
        return None


def close_interrupted(db: Session, clip: Clip, branch_code: str, key: SigningKey, reason: str) -> bool:
    """Gives a cut-off clip its own manifest; True if anything playable was kept. Commits."""
    media = Path(clip.media_path)
    playable = probe_playable(media) if media.exists() and media.stat().st_size > 0 else None
    if playable is None or playable.duration_ms == 0:
        clip.state = CANCELLED
        audit_local(
            db, "agent", "recording.lost_before_first_fragment", clip.clip_id, {"media": str(media), "reason": reason}
        )
        log.error("clip %s had no playable media (%s); closed with an audit line", clip.clip_id, reason)
        db.commit()
        return False
    sale = SaleInfo(**json.loads(clip.sale_json))
    context = TakeContext.from_row(clip.context_json)
    ended = clip.started_at + timedelta(milliseconds=playable.duration_ms)
    codec = {
        "video_codec": playable.video_codec,
        "width": playable.width,
        "height": playable.height,
        "fps": playable.fps,
        "audio_codec": playable.audio_codec,
        "sample_rate": playable.sample_rate,
    }
    media_digest = sha256_file(media)  # before the chain's lock is taken: hashing a long clip takes a while
    manifest = build_manifest(
        clip,
        sale,
        branch_code,
        "interrupted",
        clip.started_at,
        ended,
        playable.duration_ms,
        media,
        codec,
        [],
        [m for m in context.markers if m.at_ms <= playable.duration_ms],
        chain_head(db),
        key,
        media_digest,
        origin=context.origin,
        earlier_clip_id=context.earlier_clip_id,
        supplementary=context.supplementary,
        consent=context.consent,
        markers_missing_reason=context.markers_missing_reason,
    )
    commit_manifest(db, clip, manifest, INTERRUPTED)
    audit_local(
        db, "agent", "recording.interrupted", clip.clip_id, {"playable_ms": playable.duration_ms, "reason": reason}
    )
    db.commit()
    log.warning(
        "clip %s was cut off (%s); kept as interrupted, %d ms playable", clip.clip_id, reason, playable.duration_ms
    )
    # It has no index at its end: one beside it lets the player open and seek it at once.
    build_index_quietly(media)
    return True


def recover_interrupted(sessions: sessionmaker[Session], branch_code: str, key: SigningKey) -> list[str]:
    recovered: list[str] = []
    with sessions() as db:
        rows = db.execute(select(Clip).where(Clip.state == RECORDING).order_by(Clip.started_at)).scalars().all()
        for clip in rows:
            if close_interrupted(db, clip, branch_code, key, reason="found at start-up"):
                recovered.append(clip.clip_id)
    return recovered
