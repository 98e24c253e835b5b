"""A GB/T 28181 camera as a counter's camera (and microphone): register, INVITE, receive, again.

The camera registers to the agent's platform (``GbPlatformRunner``); a supervisor thread waits
for it to be online, INVITEs the configured channel with a media receiver ready on our side, and
watches the session. When the device hangs up (BYE), goes offline (keepalives missed, or
unregistered), registers again while its media has stopped (a restart), or sends nothing for
``media_timeout_s``, the session is torn down (BYE, receiver closed) and the channel INVITEd
again, with a capped backoff after failures, until the source is closed. A shorter silence is
just a pause in the picture: the recorder sees the picture age and writes a gap, and the same
session carries on when packets return.

Media is taken only from the device: the receiver listens for the device's registered address
before the INVITE and adds the address its SDP answer names once that has come; RTP (or a TCP
connection) from any other host is refused, whatever SSRC it carries.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from branch_agent.gb28181.media_receiver import GbMediaReceiver, ReceiverSettings, ReceiverStats
from branch_agent.gb28181.platform import GbPlatform
from branch_agent.gb28181.play import PlayError, PlaySession
from branch_agent.gb28181.sdp import MediaTransport
from branch_agent.gb28181.service import GbPlatformRunner, GbPlatformUnavailable
from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource, SharedWorker

log = logging.getLogger(__name__)
_NS = 1_000_000_000
_POLL_S = 0.2
_BYE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class GbCameraSettings:
    device_id: str
    channel_id: str
    transport: MediaTransport = MediaTransport.UDP
    media_port: int = 0  # udp / tcp passive: 0 picks a free port per session
    bind_host: str = "0.0.0.0"
    want_audio: bool = False
    latency_ms: int = 0
    media_timeout_s: float = 10.0
    stale_after_s: float = 2.0
    invite_timeout_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0


class GbCamera(SharedWorker):
    """One channel of one GB/T 28181 device; ``video()`` and ``audio()`` are its source views."""

    def __init__(self, name: str, runner: GbPlatformRunner, settings: GbCameraSettings) -> None:
        self.name = name
        self.runner = runner
        self.settings = settings
        self._lock = threading.Lock()
        super().__init__(f"gb-camera-{name}")
        self._receiver: GbMediaReceiver | None = None
        self._session: PlaySession | None = None
        self._last_frame: VideoFrame | None = None
        self._state = "not open"
        self.sessions_started = 0
        self.invite_failures = 0
        self.last_end_reason = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def _starting(self, stop: threading.Event) -> None:
        self.runner.acquire()
        self._set_state("starting")

    def _stopped(self) -> None:
        self.runner.release()
        self._set_state("not open")

    # -- consumers -----------------------------------------------------------------------------

    def latest_frame(self) -> VideoFrame | None:
        rx = self._receiver
        frame = rx.latest_frame() if rx is not None else None
        if frame is None:
            # Between sessions the last picture stays, with its age: the recorder writes a gap.
            return self._last_frame
        self._last_frame = frame
        return frame

    def media_stats(self) -> ReceiverStats | None:
        """Packets, loss and decoded frames of the current session; None between sessions."""
        rx = self._receiver
        return rx.stats() if rx is not None else None

    def read_audio(self, max_chunks: int) -> list[AudioChunk]:
        rx = self._receiver
        return rx.read_audio(max_chunks) if rx is not None else []

    def health(self, name: str, audio: bool) -> SourceHealth:
        s = self.settings
        rx, session = self._receiver, self._session
        with self._lock:
            state = self._state
        parts = [f"GB/T 28181 {s.device_id}/{s.channel_id}", self._registration(), state]
        if rx is not None:
            h = rx.health(name, audio)
            media = h.detail.split(": ", 1)[-1]
            parts.append(f"media {s.transport.receiver_name}: {media}")
            connected = h.connected and session is not None and session.active
            fps, age, errors, kbps = h.fps, h.last_frame_age_s, h.errors, h.bitrate_kbps
            dropped, dropped_recent = h.dropped, h.dropped_recent
        else:
            connected, fps, errors, kbps = False, 0.0, 0, 0.0
            dropped, dropped_recent = 0, 0
            last = self._last_frame
            age = (time.monotonic_ns() - last.pts_ns) / _NS if last is not None and not audio else None
        return SourceHealth(
            name=name,
            connected=connected,
            last_frame_age_s=age,
            fps=fps,
            errors=errors + self.invite_failures,
            reconnects=max(0, self.sessions_started - 1),
            detail="; ".join(parts)[:1000],
            kind="gb28181",
            bitrate_kbps=kbps,
            dropped=dropped,
            dropped_recent=dropped_recent,
        )

    def _registration(self) -> str:
        platform = self.runner.platform
        if platform is None:
            return self.runner.error or "SIP server not running"
        record = platform.devices.get(self.settings.device_id)
        if record is None:
            return "device not registered"
        if not record.online:
            return f"device offline ({record.offline_reason})"
        return f"device registered over {record.transport.value} from {record.address[0]}:{record.address[1]}"

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    # -- the supervisor thread -----------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        s = self.settings
        backoff = s.retry_initial_s
        while not stop.is_set():
            try:
                platform = self.runner.ensure_started()
            except GbPlatformUnavailable as exc:
                self._set_state(f"{exc}; retry in {backoff:g} s")
                stop.wait(backoff)
                backoff = min(backoff * 2, s.retry_max_s)
                continue
            record = platform.devices.get(s.device_id)
            if record is None or not record.online:
                self._set_state("waiting for the device to register")
                stop.wait(_POLL_S)
                continue
            try:
                reason, had_media = self._play_once(platform, stop)
            except Exception as exc:
                log.exception("GB/T 28181 camera %s: session failed", self.name)
                reason, had_media = f"failed: {exc}", False
            if stop.is_set():
                break
            if had_media:
                backoff = s.retry_initial_s
            self.last_end_reason = reason
            log.warning(
                "GB/T 28181 camera %s (%s/%s): %s; INVITE again in %g s",
                self.name,
                s.device_id,
                s.channel_id,
                reason,
                backoff,
            )
            self._set_state(f"{reason}; INVITE again in {backoff:g} s")
            stop.wait(backoff)
            backoff = min(backoff * 2, s.retry_max_s)

    def _receiver_settings(
        self, port: int, ssrc: int, remote: tuple[str, int] | None, allowed: tuple[str, ...] | None
    ) -> ReceiverSettings:
        s = self.settings
        return ReceiverSettings(
            transport=s.transport.receiver_name,
            bind_host=s.bind_host,
            port=port,
            remote=remote,
            ssrc=ssrc,
            allowed_sources=allowed,
            # The port is this camera's alone: a firmware that ignores y= is followed after a while.
            adopt_ssrc_after=50,
            want_audio=s.want_audio,
            latency_ms=s.latency_ms,
            stale_after_s=s.stale_after_s,
        )

    def _play_once(self, platform: GbPlatform, stop: threading.Event) -> tuple[str, bool]:
        """INVITE, receive until the session must end; returns why it ended and whether media came."""
        s = self.settings
        record = platform.devices.get(s.device_id)
        if record is None:
            return "device forgotten before the INVITE", False
        try:
            offered = platform.play_sessions.next_ssrc()
        except PlayError as exc:
            self.invite_failures += 1
            return f"INVITE not sent: {exc}", False
        rx: GbMediaReceiver | None = None
        if s.transport is not MediaTransport.TCP_ACTIVE:
            # Listening before the INVITE: the device may send the moment it has our ACK; until
            # its answer names another address, only its registered one is listened to.
            settings = self._receiver_settings(s.media_port, int(offered) & 0xFFFFFFFF, None, (record.address[0],))
            rx = GbMediaReceiver(self.name, settings)
            try:
                rx.acquire()
            except OSError as exc:
                self.invite_failures += 1
                platform.play_sessions.release_ssrc(offered)
                return f"cannot receive on {s.bind_host}:{s.media_port}: {exc}", False
            media_port = rx.port
        else:
            media_port = s.media_port or 9  # we connect out; the port we announce is not used
        session: PlaySession | None = None
        try:
            self._set_state(f"INVITE sent (media {s.transport.receiver_name}, port {media_port})")
            registered_at = record.registered_at
            try:
                session = self.runner.call(
                    platform.invite(
                        s.device_id,
                        s.channel_id,
                        transport=s.transport,
                        media_host=platform.local.host,
                        media_port=media_port,
                        ssrc=offered,
                        timeout_s=s.invite_timeout_s,
                    ),
                    s.invite_timeout_s + 5,
                    stop,
                )
            except (PlayError, TimeoutError) as exc:
                self.invite_failures += 1
                return f"INVITE failed: {exc}", False
            except GbPlatformUnavailable as exc:
                return f"INVITE abandoned: {exc}", False
            plan = session.media
            if rx is None:
                remote = (plan.remote_host, plan.remote_port)
                rx = GbMediaReceiver(self.name, self._receiver_settings(0, plan.ssrc_value, remote, None))
                rx.acquire()
            else:
                rx.allow_sources(plan.allowed_sources)
                if plan.ssrc_value != int(offered) & 0xFFFFFFFF:
                    rx.expect_ssrc(plan.ssrc_value)
            self._session = session
            self._receiver = rx
            self.sessions_started += 1
            self._set_state(f"playing since {time.strftime('%H:%M:%S')} (SSRC {plan.ssrc})")
            log.info("GB/T 28181 camera %s playing %s", self.name, session)
            return self._watch(platform, session, rx, registered_at, stop)
        finally:
            self._receiver = None
            self._session = None
            if session is not None and session.active:
                try:
                    self.runner.call(session.bye(timeout_s=_BYE_TIMEOUT_S), _BYE_TIMEOUT_S + 1)
                except Exception as exc:
                    log.info("GB/T 28181 camera %s: BYE not completed: %s", self.name, exc)
            if rx is not None:
                last = rx.latest_frame()
                if last is not None:
                    self._last_frame = last
                rx.release()

    def _watch(
        self,
        platform: GbPlatform,
        session: PlaySession,
        rx: GbMediaReceiver,
        registered_at: float | None,
        stop: threading.Event,
    ) -> tuple[str, bool]:
        s = self.settings
        packets = 0
        had_media = False
        progress = time.monotonic()
        while not stop.wait(_POLL_S):
            now = time.monotonic()
            count = rx.stats().packets
            if count != packets:
                packets, progress, had_media = count, now, True
            silent_s = now - progress
            if not session.active:
                return f"session {session.ended_reason}", had_media
            record = platform.devices.get(s.device_id)
            if record is None or not record.online:
                reason = record.offline_reason if record is not None else "forgotten"
                return f"device offline ({reason})", had_media
            if record.registered_at != registered_at and silent_s > s.stale_after_s:
                # A refresh while media flows is routine; a new registration and no media is a restart.
                return "device registered again and its media stopped", had_media
            if silent_s > s.media_timeout_s:
                return f"no media for {s.media_timeout_s:g} s", had_media
        return "closed", had_media

    # -- source views --------------------------------------------------------------------------

    def video(self, name: str) -> FeedVideoSource:
        return FeedVideoSource(name, self)

    def audio(self, name: str) -> FeedAudioSource:
        return FeedAudioSource(name, self)
