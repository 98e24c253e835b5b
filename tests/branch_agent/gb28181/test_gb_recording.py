"""A clip recorded with a GB/T 28181 camera as the environment camera, built from configuration.

SIPp is the camera's SIP side (register_and_serve.xml registers with digest, answer_invite.xml
answers the INVITE); the ``DeviceSimulator`` is its media side, sending H.264 + G.711 in PS over
RTP to the port and with the SSRC the INVITE negotiated. The close-up camera is synthetic and
the microphone a tone, so whatever moves in the background came from the GB camera.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import numpy as np
import pytest

from branch_agent.config import BranchConfig, load_branch_config
from branch_agent.counter.sources import CounterSources, build_sources, gb_platform_runner
from branch_agent.gb28181.platform import SessionSummary
from branch_agent.gb28181.service import GbPlatformRunner, platform_report
from branch_agent.recorder import (
    EncoderSettings,
    OverlayRenderer,
    OverlayText,
    PipCompositor,
    PipLayout,
    RecordingEngine,
)
from branch_agent.recorder.engine import EngineResult
from branch_agent.sources.gb_camera import GbCamera
from tests.peers.gb_device.device_simulator import (
    DeviceSimulator,
    EncodedFrame,
    Faults,
    encode_test_audio,
    encode_test_video,
    interleave,
)
from tests.peers.sipp_peer import MISSING_REASON, SIPP, SippCamera, SippProcess, start_sipp

pytestmark = pytest.mark.skipif(SIPP is None, reason=MISSING_REASON)

REPO = Path(__file__).resolve().parents[3]
SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
CAMERA = "34020000001320000264"
CHANNEL = "34020000001320000001"
PASSWORD = "Cam#2026pass"
CAM_MEDIA_PORT = 15060  # announced in SIPp's SDP only: the simulator sends from any port
OUT_W, OUT_H = 640, 360
INSET_W, INSET_H, MARGIN = 160, 128, 8
DEADLINE_S = 15.0
ENV = "C01-environment"
SIPP_KEYS = {
    "udp": {"media_proto": "RTP/AVP", "setup_line": "a=framerate:25"},
    "tcp_passive": {"media_proto": "TCP/RTP/AVP", "setup_line": "a=setup:active"},
}


@pytest.fixture(scope="module")
def media() -> list[EncodedFrame]:
    # A moving red bar on grey (see encode_test_video), key frame every 0.4 s; looped by the simulator.
    return interleave(encode_test_video(50, 320, 240, gop=10), encode_test_audio(2.0))


def _config(tmp_path: Path, media_transport: str, microphone: str = "tone") -> BranchConfig:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    section = (
        f'[gb28181]\nserver_id = "{SERVER_ID}"\ndomain = "{DOMAIN}"\nhost = "127.0.0.1"\nport = 0\n'
        # SIPp's out-of-call scenario answers the INVITE only, not a Catalog query.
        'password_env = "GB_TEST_PASSWORD"\nquery_catalog = false\n\n'
    )
    lines = []
    for line in text.replace("[[counters]]", section + "[[counters]]", 1).splitlines():
        if line.startswith("environment = "):
            line = (
                f'environment = {{ kind = "gb28181", device_id = "{CAMERA}", channel_id = "{CHANNEL}", '
                f'media_transport = "{media_transport}" }}'
            )
        elif line.startswith("desk = "):
            line = 'desk = { kind = "synthetic", width = 320, height = 240, fps = 25, label = "DESK" }'
        elif line.startswith("microphone = "):
            line = (
                'microphone = { kind = "camera", camera = "environment" }'
                if microphone == "camera"
                else 'microphone = { kind = "tone" }'
            )
        elif line.startswith("data_dir = "):
            line = f'data_dir = "{tmp_path / "branch"}"'
        lines.append(line)
    path = tmp_path / "branch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_branch_config(path)


async def _until(predicate: Callable[[], bool], timeout_s: float = DEADLINE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _session(runner: GbPlatformRunner) -> SessionSummary | None:
    snap = runner.snapshot()
    return snap.sessions[0] if snap is not None and snap.sessions else None


async def _with_gb_counter(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    media_transport: str,
    ooc: str,
    body: Callable[[CounterSources, GbCamera, GbPlatformRunner], Awaitable[None]],
    microphone: str = "tone",
) -> None:
    """The counter's sources from configuration, SIPp registered as the camera; ``body`` runs
    once the sources are open. Afterwards the sources close (BYE) and SIPp must have passed."""
    monkeypatch.setenv("GB_TEST_PASSWORD", PASSWORD)
    cfg = _config(tmp_path, media_transport, microphone)
    runner = gb_platform_runner(cfg)
    assert runner is not None
    sources = build_sources(cfg, cfg.counters[0], runner)
    camera = sources.environment.feed  # type: ignore[attr-defined]
    sipp: SippProcess | None = None
    sources.open()
    try:
        await _until(lambda: runner.platform is not None, what="the SIP server")
        assert runner.platform is not None
        sipp = await start_sipp(
            "register_and_serve",
            SippCamera(CAMERA, SERVER_ID, DOMAIN, PASSWORD, "udp"),
            runner.platform.port,
            tmp_path,
            timeout_s=40,
            ooc=ooc,
            keys={"cam_media_port": str(CAM_MEDIA_PORT), **SIPP_KEYS[media_transport]},
        )
        await body(sources, camera, runner)
    finally:
        await asyncio.to_thread(sources.close)  # BYE to the camera: SIPp's scenario ends with it
        assert runner.platform is None, "the last camera closing stops the SIP server"
        if sipp is not None:
            try:
                result = await asyncio.wait_for(sipp.finish(), 10)
            finally:
                sipp.kill()
            assert result.ok, result.explain() + "\n--- messages ---\n" + sipp.messages[-4000:]


def _engine(sources: CounterSources, path: Path, font: Path) -> RecordingEngine:
    layout = PipLayout(
        output_width=OUT_W, output_height=OUT_H, inset_width=INSET_W, inset_height=INSET_H, margin=MARGIN
    )
    return RecordingEngine(
        sources.environment,
        sources.desk,
        sources.microphone,
        PipCompositor(layout),
        OverlayRenderer(font, 16),
        lambda now: OverlayText([now.strftime("%H:%M:%S"), "GB28181"]),
        path,
        EncoderSettings(preset="ultrafast"),
    )


def _start_simulator(
    session: SessionSummary, frames: list[EncodedFrame], faults: Faults | None = None, bind_host: str | None = None
) -> DeviceSimulator:
    transport = "udp" if session.transport.value == "udp" else "tcp-connect"
    sim = DeviceSimulator(
        frames,
        int(session.ssrc) & 0xFFFFFFFF,
        ("127.0.0.1", session.local_port),
        transport,  # type: ignore[arg-type]
        faults or Faults(),
        speed=1.0,
        loop=True,
        bind_host=bind_host,
    )
    sim.start()
    return sim


def _red_pixels(rgb: np.ndarray) -> int:
    """Pixels of the test pattern's red bar in the background, away from the inset and the text."""
    background = rgb[40 : OUT_H - INSET_H - 2 * MARGIN, :]
    r, g, _b = (background[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((r > 170) & (g < 100)))


def _dominant_hz(result: EngineResult) -> float:
    with av.open(str(result.path)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    rate = result.sample_rate
    middle = samples[rate // 2 : -rate // 4] if len(samples) > rate else samples
    spectrum = np.abs(np.fft.rfft(middle))
    return float(np.argmax(spectrum[1:]) + 1) * rate / len(middle)


def _decode(result: EngineResult) -> tuple[int, list[int]]:
    frames, red = 0, []
    with av.open(str(result.path)) as container:
        for frame in container.decode(video=0):
            assert (frame.width, frame.height) == (OUT_W, OUT_H)
            frames += 1
            red.append(_red_pixels(frame.to_ndarray(format="rgb24")))
    return frames, red


@pytest.mark.parametrize(
    ("media_transport", "microphone"),
    [("udp", "tone"), ("tcp_passive", "camera")],
    ids=["udp-tone-microphone", "tcp-passive-camera-sound"],
)
def test_pip_clip_with_a_gb_camera_as_background(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cjk_font: Path,
    media: list[EncodedFrame],
    media_transport: str,
    microphone: str,
) -> None:
    results: dict[str, object] = {}

    async def body(sources: CounterSources, camera: GbCamera, runner: GbPlatformRunner) -> None:
        await _until(lambda: _session(runner) is not None, what="the INVITE to be answered")
        session = _session(runner)
        assert session is not None and (session.device_id, session.channel_id) == (CAMERA, CHANNEL)
        assert session.transport.value == media_transport
        sim = _start_simulator(session, media)
        try:
            await _until(lambda: sources.environment.health().connected, what="media")
            health = sources.environment.health()
            assert health.kind == "gb28181" and health.fps >= 0
            assert f"GB/T 28181 {CAMERA}/{CHANNEL}" in health.detail and "device registered over UDP" in health.detail
            report = platform_report(runner)
            assert report is not None and report.running
            assert [(d.device_id, d.online) for d in report.devices] == [(CAMERA, True)]
            assert [(s.channel_id, s.ssrc) for s in report.sessions] == [(CHANNEL, session.ssrc)]
            engine = _engine(sources, tmp_path / "clip.mp4", cjk_font)
            await asyncio.to_thread(engine.start)
            await asyncio.sleep(2.5)
            results["result"] = await asyncio.to_thread(engine.stop)
            stats = camera.media_stats()
            results["frames_received"] = stats.video_frames if stats else 0
            results["health"] = sources.environment.health()
        finally:
            sim.stop()
        assert sim.stats.error == "" and sim.stats.packets_sent > 0

    asyncio.run(_with_gb_counter(tmp_path, monkeypatch, media_transport, "answer_invite", body, microphone))

    result = results["result"]
    assert isinstance(result, EngineResult)
    assert (result.width, result.height) == (OUT_W, OUT_H)
    assert 2.0 < result.duration_ms / 1000 < 4.0
    # No gap at all: neither the GB camera's picture nor the sound (the camera's own, or the tone).
    assert result.gaps == [], result.gaps
    assert abs(result.audio_samples / result.sample_rate - result.duration_ms / 1000) < 0.1
    assert results["frames_received"] > 50
    assert results["health"].connected and results["health"].reconnects == 0  # type: ignore[attr-defined]
    frames, red = _decode(result)
    assert frames == result.video_frames
    if microphone == "camera":
        # The camera's 440 Hz tone (G.711 in the PS stream) is the clip's sound.
        assert abs(_dominant_hz(result) - 440) < 20
    # The GB camera's red bar is in (nearly) every picture of the background.
    assert sum(1 for n in red if n > 300) >= 0.9 * frames, red


@pytest.mark.slow
def test_silent_device_leaves_a_gap_and_the_picture_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cjk_font: Path, media: list[EncodedFrame]
) -> None:
    results: dict[str, object] = {}

    async def body(sources: CounterSources, camera: GbCamera, runner: GbPlatformRunner) -> None:
        await _until(lambda: _session(runner) is not None, what="the INVITE to be answered")
        session = _session(runner)
        assert session is not None
        # Silent from 2 s to 5 s of the device's media time: a network outage, the call stays up.
        sim = _start_simulator(session, media, Faults(silence_at_s=2.0, silence_s=3.0))
        try:
            await _until(lambda: sources.environment.health().connected, what="media")
            engine = _engine(sources, tmp_path / "clip.mp4", cjk_font)
            await asyncio.to_thread(engine.start)
            origin = time.monotonic()
            await _until(lambda: not sources.environment.health().connected, timeout_s=5, what="the silence")
            silent = sources.environment.health()
            results["silent_detail"] = silent.detail
            await _until(
                lambda: ENV in engine.status().stalled_sources, timeout_s=3, what="the recorder to see a stall"
            )
            stalled_pts = sources.environment.latest_frame().pts_ns  # type: ignore[union-attr]
            await _until(
                lambda: sources.environment.latest_frame().pts_ns != stalled_pts,  # type: ignore[union-attr]
                timeout_s=6,
                what="pictures to return",
            )
            results["back_at"] = time.monotonic() - origin
            await asyncio.sleep(1.0)
            results["result"] = await asyncio.to_thread(engine.stop)
            results["health"] = sources.environment.health()
            results["sessions"] = camera.sessions_started
        finally:
            sim.stop()

    asyncio.run(_with_gb_counter(tmp_path, monkeypatch, "udp", "answer_invite", body))

    assert "no media for" in results["silent_detail"], results["silent_detail"]  # type: ignore[operator]
    result = results["result"]
    assert isinstance(result, EngineResult)
    gaps = [g for g in result.gaps if g.source == ENV]
    assert len(gaps) == 1, result.gaps
    # 3 s without packets; the recorder calls a picture stale after 1 s and it returns at a key frame.
    assert 1.5 < gaps[0].duration_ms / 1000 < 4.0, gaps
    assert result.duration_ms / 1000 > results["back_at"] + 0.5  # type: ignore[operator]
    # A 3 s pause is shorter than media_timeout_s: the same session carried on, no re-INVITE.
    assert results["sessions"] == 1
    assert results["health"].connected  # type: ignore[attr-defined]
    frames, _red = _decode(result)
    assert frames == result.video_frames


def test_camera_that_hangs_up_is_invited_again_mid_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cjk_font: Path, media: list[EncodedFrame]
) -> None:
    results: dict[str, object] = {}

    async def body(sources: CounterSources, camera: GbCamera, runner: GbPlatformRunner) -> None:
        await _until(lambda: _session(runner) is not None, what="the INVITE to be answered")
        first = _session(runner)
        assert first is not None
        sim = _start_simulator(first, media)
        try:
            await _until(lambda: sources.environment.health().connected, what="media")
            engine = _engine(sources, tmp_path / "clip.mp4", cjk_font)
            await asyncio.to_thread(engine.start)
            # SIPp hangs up 1.5 s after its ACK; the source INVITEs again after its backoff.
            await _until(lambda: camera.sessions_started == 2 and _session(runner) is not None, what="a second session")
            second = _session(runner)
            assert second is not None and second.ssrc != first.ssrc
            results["end_reason"] = camera.last_end_reason
        finally:
            sim.stop()
        sim = _start_simulator(second, media)  # the device streams to the new session's port and SSRC
        try:
            await _until(lambda: sources.environment.health().connected, what="media of the second session")
            await asyncio.sleep(1.0)
            results["result"] = await asyncio.to_thread(engine.stop)
            results["health"] = sources.environment.health()
        finally:
            sim.stop()

    asyncio.run(_with_gb_counter(tmp_path, monkeypatch, "udp", "answer_invite_bye_once", body))

    assert results["end_reason"] == "session ended by device (BYE)"
    health = results["health"]
    assert health.connected and health.reconnects == 1  # type: ignore[attr-defined]
    result = results["result"]
    assert isinstance(result, EngineResult)
    gaps = [g for g in result.gaps if g.source == ENV]
    assert len(gaps) == 1 and gaps[0].duration_ms < 4000, result.gaps
    frames, red = _decode(result)
    assert frames == result.video_frames
    assert sum(1 for n in red if n > 300) >= 0.8 * frames, red


@pytest.mark.parametrize("media_transport", ["udp", "tcp_passive"])
def test_media_from_another_host_with_the_session_ssrc_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media: list[EncodedFrame], media_transport: str
) -> None:
    """Another host on the LAN that learnt the media port and the SSRC sends first: nothing of
    it reaches the camera's picture; the camera's own media (from its registered address) does."""

    async def body(sources: CounterSources, camera: GbCamera, runner: GbPlatformRunner) -> None:
        await _until(lambda: _session(runner) is not None, what="the INVITE to be answered")
        session = _session(runner)
        assert session is not None and session.transport.value == media_transport

        def refused() -> int:
            stats = camera.media_stats()
            return getattr(stats, "foreign_source", 0) if stats is not None else 0

        def taken() -> int:
            stats = camera.media_stats()
            return stats.packets + stats.connections if stats is not None else 0

        attacker = _start_simulator(session, media, bind_host="127.0.0.2")
        try:
            needed = 30 if media_transport == "udp" else 1
            await _until(lambda: taken() > 0 or refused() >= needed, what="the attacker's media to be seen")
            stats = camera.media_stats()
            assert stats is not None and (stats.packets, stats.connections, stats.video_frames) == (0, 0, 0)
            assert not sources.environment.health().connected
        finally:
            attacker.stop()
        sim = _start_simulator(session, media, bind_host="127.0.0.1")
        try:
            await _until(lambda: sources.environment.health().connected, what="the camera's own media")
        finally:
            sim.stop()

    asyncio.run(_with_gb_counter(tmp_path, monkeypatch, media_transport, "answer_invite", body))
