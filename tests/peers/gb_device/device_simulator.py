"""A GB/T 28181 camera's media sender, for tests and demos: PS over RTP, UDP or TCP (RFC 4571).

It sends pre-encoded frames (``encode_test_video``/``encode_test_audio`` make small synthetic
ones with PyAV) paced at their own rate, muxed and packetized like device firmware does. Network
trouble is injected at the RTP level, after packetizing, so sequence numbers show the damage the
way a real network would: dropped packets leave gaps, swapped neighbours arrive out of order, and
a silent period sends nothing for a while (its packets are lost, as in an outage), then resumes.

TCP roles follow GB/T 28181-2016 §C: in "TCP passive" mode the platform listens and the device
connects (``tcp-connect`` here); in "TCP active" mode the device listens and the platform
connects (``tcp-listen`` here).
"""

from __future__ import annotations

import fractions
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np

from branch_agent.gb28181.rfc4571 import frame as rfc4571_frame
from tests.peers.gb_device.ps_mux import PsMuxer
from tests.peers.gb_device.rtp_packetizer import RtpPacketizer

_log = logging.getLogger(__name__)
_CLOCK = 90_000

SimTransport = Literal["udp", "tcp-connect", "tcp-listen"]


@dataclass(frozen=True)
class EncodedFrame:
    kind: Literal["video", "audio"]
    data: bytes
    pts: int  # 90 kHz
    key: bool = False


def encode_test_video(
    count: int,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    gop: int = 25,
    codec: str = "h264",
) -> list[EncodedFrame]:
    """H.264 (or H.265) Annex B frames of a moving test pattern, parameter sets on every key frame."""
    if codec not in ("h264", "hevc"):
        raise ValueError(f"test video is h264 or hevc, not {codec!r}")
    enc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = fractions.Fraction(1, fps)
    enc.framerate = fractions.Fraction(fps)
    enc.gop_size = gop
    # No B-frames and no lookahead, like a camera's live encoder; a fixed GOP, like its setting.
    if codec == "h264":
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "keyint": str(gop),
            "min-keyint": str(gop),
            "scenecut": "0",
            "repeat-headers": "1",
        }
    else:
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:bframes=0:log-level=error",
        }
    packets: list[av.Packet] = []
    for i in range(count):
        img = np.full((height, width, 3), (i * 5) % 256, np.uint8)
        x = (i * 8) % max(1, width - 32)
        img[:, x : x + 32] = (255, 40, 40)
        img[(i * 4) % max(1, height - 16) : (i * 4) % max(1, height - 16) + 16, :, 2] = 255
        picture = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        picture.pts = i
        packets.extend(enc.encode(picture))
    packets.extend(enc.encode(None))
    step = _CLOCK // fps
    return [EncodedFrame("video", bytes(p), int(p.pts) * step, bool(p.is_keyframe)) for p in packets]


def _adts_header(payload_len: int, rate_index: int) -> bytes:
    # AAC LC, mono, no CRC: what the PS stream type 0x0F (ADTS) expects in front of each frame.
    length = payload_len + 7
    v = 0xFFF << 44 | 1 << 40 | 1 << 38 | rate_index << 34 | 1 << 30 | length << 13 | 0x7FF << 2
    return v.to_bytes(7, "big")


def encode_test_audio(
    duration_s: float, chunk_ms: int = 40, tone_hz: float = 440.0, codec: str = "pcm_alaw"
) -> list[EncodedFrame]:
    """8 kHz mono sound, a tone: G.711 A-law (GB/T 28181's default) in ``chunk_ms`` chunks, or
    AAC in ADTS (1024-sample frames)."""
    if codec not in ("pcm_alaw", "aac"):
        raise ValueError(f"test audio is pcm_alaw or aac, not {codec!r}")
    enc = av.CodecContext.create(codec, "w")
    enc.sample_rate, enc.layout = 8000, "mono"
    enc.format = "s16" if codec == "pcm_alaw" else "fltp"
    per_chunk = 8000 * chunk_ms // 1000
    packets: list[av.Packet] = []
    for i in range(int(duration_s * 1000) // chunk_ms):
        t = (np.arange(per_chunk) + i * per_chunk) / 8000
        tone = np.sin(2 * np.pi * tone_hz * t) * 0.25
        samples = (tone * 32767).astype(np.int16) if codec == "pcm_alaw" else tone.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format=enc.format.name, layout="mono")
        frame.sample_rate = 8000
        frame.pts = i * per_chunk
        packets.extend(enc.encode(frame))
    if codec == "aac":
        packets.extend(enc.encode(None))
    out: list[EncodedFrame] = []
    for p in packets:
        data = bytes(p)
        if codec == "aac":
            data = _adts_header(len(data), 11) + data  # 11 = 8000 Hz
        out.append(EncodedFrame("audio", data, max(0, int(p.pts or 0)) * _CLOCK // 8000))
    return out


def interleave(*streams: list[EncodedFrame]) -> list[EncodedFrame]:
    # Stable on ties, video first: a camera sends the picture before the sound stamped with it.
    order = {"video": 0, "audio": 1}
    return sorted((f for s in streams for f in s), key=lambda f: (f.pts, order[f.kind]))


@dataclass
class Faults:
    drop: float = 0.0  # fraction of packets never sent
    reorder: float = 0.0  # fraction of packets swapped with the one after
    silence_at_s: float | None = None  # media time at which the device goes silent
    silence_s: float = 0.0
    seed: int = 1

    def __post_init__(self) -> None:
        if not (0 <= self.drop < 1 and 0 <= self.reorder < 1 and self.silence_s >= 0):
            raise ValueError("drop and reorder are fractions below 1, silence_s is not negative")


@dataclass
class SimulatorStats:
    frames: int = 0
    packets_sent: int = 0
    packets_dropped: int = 0  # by fault injection, silence included
    packets_swapped: int = 0
    error: str = ""


@dataclass
class DeviceSimulator:
    """Sends ``frames`` (in pts order) once, or looping with the pts running on, until stopped.

    ``address`` is where to send (``udp``, ``tcp-connect``) or where to listen (``tcp-listen``,
    port 0 picks one: read ``listen_port`` after ``start``).
    """

    frames: list[EncodedFrame]
    ssrc: int
    address: tuple[str, int]
    transport: SimTransport = "udp"
    faults: Faults = field(default_factory=Faults)
    speed: float = 1.0  # >1 sends faster than real time
    loop: bool = False
    video_codec: str = "h264"
    audio_codec: str | None = "pcm_alaw"
    first_sequence: int | None = None
    stats: SimulatorStats = field(default_factory=SimulatorStats)
    # The local address to send or connect from (udp, tcp-connect); None lets the OS choose.
    bind_host: str | None = None

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("nothing to send")
        has_audio = any(f.kind == "audio" for f in self.frames)
        self._muxer = PsMuxer(self.video_codec, self.audio_codec if has_audio else None)
        self._packetizer = RtpPacketizer(self.ssrc, first_sequence=self.first_sequence)
        self._rng = random.Random(self.faults.seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._sock: socket.socket | None = None
        self._held: bytes | None = None  # a packet being swapped with the next
        self.done = threading.Event()

    @property
    def listen_port(self) -> int:
        assert self._listener is not None, "only a tcp-listen simulator listens"
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        if self.transport == "tcp-listen":
            self._listener = socket.create_server(self.address)
            self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, name=f"gb-sim-{self.ssrc}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for s in (self._sock, self._listener):
            if s is not None:
                s.close()
        self._sock = self._listener = None

    def __enter__(self) -> DeviceSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- building packets ----------------------------------------------------------------------

    def packets_for(self, f: EncodedFrame, pts: int) -> list[bytes]:
        """The RTP packets of one frame, before fault injection."""
        pack = self._muxer.video(f.data, pts, f.key) if f.kind == "video" else self._muxer.audio(f.data, pts)
        return [p.to_bytes() for p in self._packetizer.packetize(pack, pts)]

    def _with_faults(self, packets: list[bytes], silent: bool) -> list[bytes]:
        out: list[bytes] = []
        for p in packets:
            if silent or self._rng.random() < self.faults.drop:
                self.stats.packets_dropped += 1
                continue
            if self._held is not None:
                out.extend((p, self._held))
                self._held = None
                self.stats.packets_swapped += 1
            elif self._rng.random() < self.faults.reorder:
                self._held = p
            else:
                out.append(p)
        return out

    # -- the sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._connect()
            self._send_all()
        except OSError as exc:
            if not self._stop.is_set():
                self.stats.error = str(exc)
                _log.warning("simulator %d: %s", self.ssrc, exc)
        finally:
            self.done.set()

    def _connect(self) -> None:
        if self.transport == "udp":
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if self.bind_host is not None:
                self._sock.bind((self.bind_host, 0))
        elif self.transport == "tcp-connect":
            deadline = time.monotonic() + 5
            source = (self.bind_host, 0) if self.bind_host is not None else None
            while True:
                try:
                    self._sock = socket.create_connection(self.address, timeout=1, source_address=source)
                    break
                except OSError:
                    if self._stop.is_set() or time.monotonic() > deadline:
                        raise
                    self._stop.wait(0.05)
        else:
            assert self._listener is not None
            while not self._stop.is_set():
                try:
                    self._sock, _ = self._listener.accept()
                    break
                except TimeoutError:
                    continue
        if self._sock is not None and self.transport != "udp":
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock.settimeout(5)

    def _send(self, packet: bytes) -> None:
        assert self._sock is not None
        if self.transport == "udp":
            self._sock.sendto(packet, self.address)
        else:
            self._sock.sendall(rfc4571_frame(packet))
        self.stats.packets_sent += 1

    def _send_all(self) -> None:
        # A lap lasts up to the last frame plus one frame interval, so looping keeps the pace.
        video = [f.pts for f in self.frames if f.kind == "video"]
        step = video[-1] - video[-2] if len(video) > 1 else _CLOCK // 25
        span = self.frames[-1].pts - self.frames[0].pts + step
        origin = time.monotonic()
        lap = 0
        while not self._stop.is_set():
            for f in self.frames:
                pts = f.pts + lap * span
                media_s = (pts - self.frames[0].pts) / _CLOCK
                due = origin + media_s / self.speed
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                q = self.faults
                silent = q.silence_at_s is not None and q.silence_at_s <= media_s < q.silence_at_s + q.silence_s
                for packet in self._with_faults(self.packets_for(f, pts), silent):
                    self._send(packet)
                self.stats.frames += 1
            if not self.loop:
                break
            lap += 1
        if self._held is not None:
            self._send(self._held)
            self._held = None
