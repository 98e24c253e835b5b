"""End to end through the recorder: synthetic cameras and microphone in, one evidence clip out.

One ~4 s recording is made per module. During it the environment camera stalls for 1.5 s and
the microphone drops out for 1.3 s, so the same clip shows normal operation, frozen picture and
silence, and lets the tests check that picture and sound stay on the recording's clock.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from branch_agent.recorder import (
    EncoderSettings,
    EngineResult,
    EngineTiming,
    OverlayRenderer,
    OverlayText,
    PipCompositor,
    PipLayout,
    RecordingEngine,
)
from branch_agent.sources import SourceUnavailable, SyntheticVideoSource, ToneAudioSource
from tests.branch_agent.recorder.mp4_boxes import top_level_boxes

ENV_LUMA, ENV_U = 60, 160
DESK_LUMA, DESK_U = 200, 100
SECONDS = 4.0
STALL_AT, STALL_FOR = 1.0, 1.5
MUTE_AT, MUTE_FOR = 2.0, 1.3
TEXT_FRAME = 12  # mid-second 0 of the clip: its clock line is not about to change
# Decoded clips start 1024 samples (AAC priming) late on both tracks; allow that plus a frame.
CLOCK_TOLERANCE_S = 0.1


@dataclass
class Clip:
    path: Path
    result: EngineResult
    layout: PipLayout
    stall_s: float  # when the camera was stalled, seconds after the recording's origin
    mute_s: float
    unmute_s: float
    frame_times: list[float]
    lumas: list[np.ndarray]  # every decoded frame's Y plane, 1/4 size
    chroma_u: np.ndarray  # U plane of a frame, full chroma size
    audio: np.ndarray  # decoded mono samples, float
    audio_start_s: float
    text_frame: np.ndarray  # full-size Y plane of the frame at TEXT_FRAME


def overlay_lines(now: datetime) -> OverlayText:
    return OverlayText(
        [now.astimezone().strftime("%Y-%m-%d %H:%M:%S"), "网点 0101 柜台 03", "员工 A1234 流水 SN20250301"]
    )


def _sleep_until(origin_ns: int, seconds: float) -> int:
    target = origin_ns + int(seconds * 1e9)
    time.sleep(max(0.0, (target - time.monotonic_ns()) / 1e9))
    return time.monotonic_ns()


@pytest.fixture(scope="module")
def clip(tmp_path_factory, cjk_font) -> Clip:
    env = SyntheticVideoSource("env-cam", 1920, 1080, 25, "ENV", luma=ENV_LUMA, chroma=(ENV_U, 110))
    desk = SyntheticVideoSource("desk-cam", 720, 576, 25, "DESK", luma=DESK_LUMA, chroma=(DESK_U, 150))
    mic = ToneAudioSource("counter-mic", frequency_hz=1000)
    layout = PipLayout()
    path = tmp_path_factory.mktemp("clip") / "sale.mp4"
    for source in (env, desk, mic):
        source.open()
    try:
        engine = RecordingEngine(
            env,
            desk,
            mic,
            PipCompositor(layout),
            OverlayRenderer(cjk_font, 36),
            overlay_lines,
            path,
            EncoderSettings(),
        )
        engine.start()
        origin = time.monotonic_ns()  # within a few ms of the engine's own origin
        stall_ns = _sleep_until(origin, STALL_AT)
        env.stall(STALL_FOR)
        mute_ns = _sleep_until(origin, MUTE_AT)
        mic.pause()
        unmute_ns = _sleep_until(origin, MUTE_AT + MUTE_FOR)
        mic.resume()
        _sleep_until(origin, SECONDS)
        result = engine.stop()
    finally:
        for source in (env, desk, mic):
            source.close()

    lumas, times, chroma_u, text_frame = [], [], None, None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = frame.to_ndarray()  # yuv420p: Y rows, then U and V rows
            if len(lumas) == TEXT_FRAME:
                text_frame = planes[:1080].copy()
            lumas.append(planes[:1080:4, ::4].copy())
            times.append(float(frame.time))
            if chroma_u is None and len(lumas) == 10:
                chroma_u = planes[1080 : 1080 + 270].reshape(540, 960).copy()
    with av.open(str(path)) as container:
        chunks = [f for f in container.decode(audio=0)]
    audio = np.concatenate([f.to_ndarray()[0] for f in chunks])
    origin_ns = result.started_monotonic_ns
    return Clip(
        path=path,
        result=result,
        layout=layout,
        stall_s=(stall_ns - origin_ns) / 1e9,
        mute_s=(mute_ns - origin_ns) / 1e9,
        unmute_s=(unmute_ns - origin_ns) / 1e9,
        frame_times=times,
        lumas=lumas,
        chroma_u=chroma_u,
        audio=audio,
        audio_start_s=float(chunks[0].time),
        text_frame=text_frame,
    )


def test_clip_has_one_h264_1080p_stream_and_one_aac_48k_stream(clip):
    with av.open(str(clip.path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1920, 1080)
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 48000
        assert audio.codec_context.channels == 1


def test_clip_is_fragmented_mp4(clip):
    boxes = top_level_boxes(clip.path)
    assert boxes[:2] == ["ftyp", "moov"]
    assert boxes.count("moof") >= 3  # ~1 s fragments


def test_sound_and_picture_last_as_long_as_each_other_and_the_recording(clip):
    video_s = clip.frame_times[-1] + 1 / 25
    audio_s = clip.audio_start_s + len(clip.audio) / 48000
    assert abs(video_s - audio_s) <= 0.040
    assert abs(video_s - SECONDS) <= 0.3
    assert abs(clip.result.duration_ms / 1000 - video_s) <= 0.05


def test_result_describes_the_clip(clip):
    r = clip.result
    assert r.path == clip.path and r.path.stat().st_size > 0
    assert (r.width, r.height, r.fps, r.sample_rate) == (1920, 1080, 25, 48000)
    assert (r.video_codec, r.audio_codec) == ("h264", "aac")
    assert r.video_frames == len(clip.frame_times)
    assert r.audio_samples == r.duration_ms * 48
    assert r.started_at_utc.tzinfo is not None and r.ended_at_utc.tzinfo is not None
    assert r.ended_at_utc - r.started_at_utc == (
        datetime.fromtimestamp(r.duration_ms / 1000, UTC) - datetime.fromtimestamp(0, UTC)
    )
    assert abs((r.ended_monotonic_ns - r.started_monotonic_ns) / 1e6 - r.duration_ms) <= 1
    assert abs((datetime.now(UTC) - r.ended_at_utc).total_seconds()) < 60


def test_inset_shows_the_desk_camera_and_background_the_environment(clip):
    x0, y0 = clip.layout.inset_origin()
    frame = clip.lumas[10]  # quarter-size luma
    inset = frame[y0 // 4 : (y0 + 384) // 4, x0 // 4 : (x0 + 480) // 4]
    background = frame[135:, : x0 // 4 - 10]  # below the burned-in text, left of the inset
    assert abs(float(inset.mean()) - DESK_LUMA) < 25
    assert abs(float(background.mean()) - ENV_LUMA) < 25
    u = clip.chroma_u  # full chroma resolution: half the luma coordinates
    inset_u = u[y0 // 2 + 20 : (y0 + 384) // 2 - 20, x0 // 2 + 20 : (x0 + 480) // 2 - 20]
    assert abs(float(inset_u.mean()) - DESK_U) < 8
    assert abs(float(u[300:, : x0 // 2 - 20].mean()) - ENV_U) < 8


def test_ffprobe_sees_one_h264_and_one_aac_stream_of_the_same_length_in_fragmented_mp4(clip):
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(clip.path)],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    streams = probe["streams"]
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    video, audio = streams
    assert (video["width"], video["height"], video["pix_fmt"]) == (1920, 1080, "yuv420p")
    assert video["r_frame_rate"] == "25/1" and video.get("has_b_frames", 0) == 0
    assert audio["sample_rate"] == "48000" and audio["channels"] == 1
    assert abs(float(video["duration"]) - float(audio["duration"])) <= 0.040
    assert abs(float(video["duration"]) - clip.result.duration_ms / 1000) <= 0.040
    # Fragmented: ffprobe reads it as ISO BMFF; the boxes show the empty moov and the fragments.
    assert "mp4" in probe["format"]["format_name"]
    assert top_level_boxes(clip.path)[:3] == ["ftyp", "moov", "moof"]


def _reference_ink(lines: tuple[str, ...], font_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the text should look like, drawn independently with Pillow: (glyph mask, ink mask)."""
    font = ImageFont.truetype(str(font_path), 36)
    text = "\n".join(lines)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=font, spacing=6, stroke_width=2)
    glyphs = Image.new("L", (right - left, bottom - top), 0)
    ink = Image.new("L", glyphs.size, 0)
    # Drawn with the stroke too (in black), because the stroke width changes the line spacing.
    ImageDraw.Draw(glyphs).multiline_text(
        (-left, -top), text, font=font, spacing=6, fill=255, stroke_width=2, stroke_fill=0
    )
    ImageDraw.Draw(ink).multiline_text(
        (-left, -top), text, font=font, spacing=6, fill=255, stroke_width=2, stroke_fill=255
    )
    return np.asarray(glyphs) >= 200, np.asarray(ink) > 0


def _worst_mismatch(band: np.ndarray, lines: tuple[str, ...], font_path: Path) -> float:
    """Share of wrong pixels in the worst character-sized window of the band.

    Wrong means a glyph pixel that is not white, or a white pixel where no text should be. The
    worst window, not the average, is what catches a single wrong digit in a serial number.
    """
    glyphs, ink = _reference_ink(lines, font_path)
    h, w = glyphs.shape
    area = band[:h, :w].astype(np.int16)
    wrong = (glyphs & (area < 170)) | (~ink & (area > 200))
    window = 24
    sums = np.pad(wrong.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    counts = sums[window:, window:] - sums[:-window, window:] - sums[window:, :-window] + sums[:-window, :-window]
    return float(counts.max()) / window**2


def test_burned_in_text_matches_a_reference_rendering_of_the_expected_text(clip, cjk_font):
    slot_time = clip.result.started_at_utc + timedelta(seconds=TEXT_FRAME / 25)
    expected = overlay_lines(slot_time).lines
    margin = 24  # OverlayRenderer's default; the text block starts there
    band = clip.text_frame[margin : margin + 200, margin : margin + 1000]
    assert _worst_mismatch(band, expected, cjk_font) < 0.02
    # The same check tells wrong text apart: one second off, or one digit of the serial.
    one_second_later = overlay_lines(slot_time + timedelta(seconds=1)).lines
    wrong_serial = (expected[0], expected[1], expected[2].replace("SN20250301", "SN20250307"))
    assert _worst_mismatch(band, one_second_later, cjk_font) > 0.05
    assert _worst_mismatch(band, wrong_serial, cjk_font) > 0.05


def _motion(clip: Clip) -> np.ndarray:
    """Mean luma change per frame in a stretch of environment picture away from text and inset."""
    region = [lum[140:260, :300].astype(np.int16) for lum in clip.lumas]
    return np.array([0.0] + [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(region)])


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    best, start = (0, 0), None
    for i, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            best = max(best, (i - start, start))
            start = None
    return best[1], best[0]


def test_stalled_camera_freezes_is_reported_as_a_gap_and_recording_goes_on(clip):
    gaps = [g for g in clip.result.gaps if g.source == "env-cam"]
    assert len(gaps) == 1
    assert abs(gaps[0].start_ms / 1000 - clip.stall_s) <= CLOCK_TOLERANCE_S
    assert abs(gaps[0].duration_ms / 1000 - STALL_FOR) <= 0.15
    # The picture really stood still for that long, at that moment of the clip...
    start, length = _longest_run(_motion(clip) < 0.5)
    assert abs(length / 25 - STALL_FOR) <= 0.15
    assert abs(clip.frame_times[start] - clip.stall_s) <= CLOCK_TOLERANCE_S
    # ...and moved again afterwards, with frames right to the end. (A busy machine may sample
    # the same camera frame twice now and then, so look at the last second as a whole.)
    assert (_motion(clip)[-25:] > 0.5).mean() > 0.8
    assert clip.frame_times[-1] >= SECONDS - 0.3


def test_microphone_dropout_is_silence_in_place_and_a_gap(clip):
    gaps = [g for g in clip.result.gaps if g.source == "counter-mic"]
    assert len(gaps) == 1
    assert abs(gaps[0].start_ms / 1000 - clip.mute_s) <= CLOCK_TOLERANCE_S
    assert abs(gaps[0].duration_ms / 1000 - MUTE_FOR) <= 0.15
    window = 480  # 10 ms
    usable = len(clip.audio) // window * window
    rms = np.sqrt((clip.audio[:usable].reshape(-1, window) ** 2).mean(axis=1))
    start, length = _longest_run(rms < 0.01)
    # Silence starts when the microphone went quiet on the same clock as the frozen picture.
    assert abs(clip.audio_start_s + start * window / 48000 - clip.mute_s) <= CLOCK_TOLERANCE_S
    assert abs(length * window / 48000 - (clip.unmute_s - clip.mute_s)) <= 0.1
    # The tone is back at the end (the last ~20 ms are the AAC encoder's final-frame padding).
    assert rms[-24:-4].min() > 0.1


def test_start_refuses_a_camera_that_never_delivers_a_picture(tmp_path, cjk_font):
    env = SyntheticVideoSource("env-cam", 640, 360, 25, "ENV")
    desk = SyntheticVideoSource("desk-cam", 640, 360, 25, "DESK")
    desk.pause()  # opened, connected, but never a frame
    mic = ToneAudioSource("counter-mic")
    path = tmp_path / "never.mp4"
    for source in (env, desk, mic):
        source.open()
    try:
        engine = RecordingEngine(
            env,
            desk,
            mic,
            PipCompositor(),
            OverlayRenderer(cjk_font, 36),
            overlay_lines,
            path,
            EncoderSettings(),
            EngineTiming(first_frame_timeout_s=0.5),
        )
        with pytest.raises(SourceUnavailable, match="desk-cam") as refused:
            engine.start()
    finally:
        for source in (env, desk, mic):
            source.close()
    assert refused.value.source == "desk-cam"
    assert not path.exists()


def _small_engine(tmp_path, cjk_font, overlay_text=overlay_lines, name="small.mp4"):
    env = SyntheticVideoSource("env-cam", 640, 360, 25, "ENV", luma=ENV_LUMA)
    desk = SyntheticVideoSource("desk-cam", 320, 256, 25, "DESK", luma=DESK_LUMA)
    mic = ToneAudioSource("counter-mic")
    layout = PipLayout(output_width=640, output_height=360, inset_width=160, inset_height=128, margin=8)
    engine = RecordingEngine(
        env,
        desk,
        mic,
        PipCompositor(layout),
        OverlayRenderer(cjk_font, 16),
        overlay_text,
        tmp_path / name,
        EncoderSettings(),
    )
    return engine, (env, desk, mic)


def test_a_too_slow_machine_skips_frames_instead_of_drifting(tmp_path, cjk_font):
    def slow_overlay(now: datetime) -> OverlayText:
        time.sleep(0.1)  # as if composing and encoding took 2.5 frame periods
        return OverlayText([now.strftime("%H:%M:%S")])

    engine, sources = _small_engine(tmp_path, cjk_font, slow_overlay)
    for source in sources:
        source.open()
    try:
        engine.start()
        began = time.monotonic()
        time.sleep(2.0)
        wall_s = time.monotonic() - began
        result = engine.stop()
    finally:
        for source in sources:
            source.close()
    assert result.dropped_ticks > 0
    assert result.video_frames + result.dropped_ticks == result.duration_ms * 25 // 1000
    assert abs(result.duration_ms / 1000 - wall_s) <= 0.25
    with av.open(str(result.path)) as container:
        frame_times = [float(f.time) for f in container.decode(video=0)]
    with av.open(str(result.path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    assert len(frame_times) == result.video_frames
    video_s = frame_times[-1] + 1 / 25
    assert abs(video_s - result.duration_ms / 1000) <= 0.15
    assert abs(samples / 48000 - result.duration_ms / 1000) <= 0.05


def test_abort_stops_and_closes_the_file_without_a_result(tmp_path, cjk_font):
    engine, sources = _small_engine(tmp_path, cjk_font, name="cancelled.mp4")
    for source in sources:
        source.open()
    try:
        engine.start()
        time.sleep(1.2)
        engine.abort()
        assert not engine.status().running
        with pytest.raises(RuntimeError, match="already stopped"):
            engine.stop()
    finally:
        for source in sources:
            source.close()
    # The caller decides whether a cancelled clip is deleted; what is left is a closed file.
    with av.open(str(tmp_path / "cancelled.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 20


def test_start_refuses_overlay_text_that_does_not_fit_before_creating_a_file(tmp_path, cjk_font):
    engine, sources = _small_engine(
        tmp_path, cjk_font, lambda now: OverlayText(["流水号 " + "9" * 200]), name="long.mp4"
    )
    for source in sources:
        source.open()
    try:
        with pytest.raises(ValueError, match="does not fit"):
            engine.start()
    finally:
        for source in sources:
            source.close()
    assert not (tmp_path / "long.mp4").exists()
