"""Receives one GB/T 28181 camera's live media and serves it as a video and an audio source.

A reader thread owns the socket: UDP (bound port), TCP passive (the platform listens, the device
connects; a reconnecting device replaces its old connection) or TCP active (the platform connects
to the device's listening port, and keeps retrying). Packets go RTP parse → reorder buffer → PS
demuxer → PyAV decoders, and come out like any other source's: the latest picture, queued sound,
and health. A device that goes silent is shown as not connected ("no media for N s") once
``stale_after_s`` passes, so the recorder sees the picture age and writes a gap; it recovers by
itself when packets return, from the next key frame.

An SSRC is no proof of origin, so with ``allowed_sources`` set (the device's registered address
and the one its SDP answer named) UDP packets from any other host are dropped before parsing and
a TCP passive connection from any other host is closed at once, without disturbing the device's
own connection. TCP active needs no such check: we connect to the address the answer named.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, replace

from branch_agent.gb28181.media_decoder import MediaDecoder
from branch_agent.gb28181.ps_demux import DemuxStats, PsDemuxer
from branch_agent.gb28181.rfc4571 import Deframer
from branch_agent.gb28181.rtp_packet import RtpError, parse_rtp
from branch_agent.gb28181.rtp_reorder import Delivery, ReorderBuffer, ReorderStats
from branch_agent.gb28181.sdp import GbTransport
from branch_agent.sources.audio_queue import AudioQueue
from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame
from branch_agent.sources.rate_meter import RateMeter
from branch_agent.sources.shared_feed import SharedWorker

_log = logging.getLogger(__name__)
_NS = 1_000_000_000
_TICK_S = 0.02  # how often the thread wakes without traffic: reorder timeouts and close()


@dataclass(frozen=True)
class ReceiverSettings:
    transport: GbTransport = "udp"
    bind_host: str = "0.0.0.0"
    port: int = 0  # udp and tcp-passive; 0 picks a free port (read ``GbMediaReceiver.port``)
    remote: tuple[str, int] | None = None  # tcp-active: the device's media address from its SDP
    ssrc: int | None = None  # from the SDP y= line; None takes the first SSRC seen
    # Hosts media is taken from (udp, tcp-passive); None takes it from anywhere.
    allowed_sources: tuple[str, ...] | None = None
    # Some firmwares ignore y= and use their own SSRC: after this many packets of one other SSRC
    # and none of ours, take theirs (0 = never: strict, as when several streams share a port).
    adopt_ssrc_after: int = 0
    want_video: bool = True
    want_audio: bool = False
    sample_rate: int = 48000
    stale_after_s: float = 2.0
    reorder_packets: int = 64
    reorder_delay_ms: int = 80
    latency_ms: int = 0
    max_audio_buffer_s: float = 10.0
    retry_max_s: float = 2.0

    def __post_init__(self) -> None:
        if self.transport == "tcp-active" and self.remote is None:
            raise ValueError("tcp-active needs the device's address (remote)")
        if self.stale_after_s <= 0:
            raise ValueError("stale_after_s must be positive")


@dataclass(frozen=True)
class ReceiverStats:
    packets: int
    bytes: int
    bad_packets: int  # not RTP
    rtcp_packets: int  # RTCP on the media port, ignored
    decode_errors: int
    video_frames: int
    audio_chunks: int
    connections: int
    reorder: ReorderStats
    demux: DemuxStats
    # Packets (udp) or connections (tcp-passive) from a host not in allowed_sources, refused.
    foreign_source: int = 0


class GbMediaReceiver(SharedWorker):
    """Shared by a camera's picture and sound views; ``acquire``/``release`` by reference count."""

    def __init__(self, name: str, settings: ReceiverSettings) -> None:
        self.name = name
        self.settings = settings
        self._lock = threading.Lock()
        super().__init__(f"gb-media-{name}")
        self._server: socket.socket | None = None  # UDP socket or TCP listener
        self._conn: socket.socket | None = None  # TCP connection
        self._latest: VideoFrame | None = None
        self._audio = AudioQueue(settings.sample_rate, settings.max_audio_buffer_s)
        self._video_meter = RateMeter()
        self._audio_meter = RateMeter()
        self._byte_meter = RateMeter()
        self._reorder = ReorderBuffer(
            expected_ssrc=settings.ssrc,
            max_packets=settings.reorder_packets,
            max_delay_ns=settings.reorder_delay_ms * 1_000_000,
            adopt_after=settings.adopt_ssrc_after,
        )
        self._demux = PsDemuxer()
        self._decoder = MediaDecoder(
            settings.sample_rate, settings.latency_ms, settings.want_video, settings.want_audio
        )
        self._deframer = Deframer()
        self._last_packet_ns: int | None = None
        self._last_audio_ns: int | None = None
        self._packets = self._bytes = self._bad = self._rtcp = self._decode_errors = 0
        self._video_frames = self._audio_chunks = self._connections = 0
        self._foreign_source = 0
        self._allowed = frozenset(settings.allowed_sources) if settings.allowed_sources is not None else None
        self._detail = "not open"

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The local media port to put in the SDP answer (udp, tcp-passive)."""
        assert self._server is not None, "not open, or tcp-active (which has no local port)"
        return int(self._server.getsockname()[1])

    def _starting(self, stop: threading.Event) -> None:
        s = self.settings
        # Bound here, not in the thread, so the port is known when open() returns.
        if s.transport == "udp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # A 1080p key frame is hundreds of packets at once; the default buffer drops some.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            sock.bind((s.bind_host, s.port))
            sock.setblocking(False)
            self._server = sock
        elif s.transport == "tcp-passive":
            self._server = socket.create_server((s.bind_host, s.port), backlog=4)
        self._detail = "waiting for the device"

    def _stopped(self) -> None:
        for sock in (self._conn, self._server):
            if sock is not None:
                sock.close()
        self._conn = self._server = None
        with self._lock:
            self._detail = "not open"
            self._audio.clear()

    def allow_sources(self, hosts: tuple[str, ...]) -> None:
        """The hosts media is taken from, once the device's SDP answer has named its own."""
        self._allowed = frozenset(hosts)

    def _from_allowed(self, host: str) -> bool:
        allowed = self._allowed
        if allowed is None or host in allowed:
            return True
        with self._lock:
            self._foreign_source += 1
            first = self._foreign_source == 1
        if first and self.settings.transport == "udp":
            _log.warning("GB/T 28181 media %s: packets from %s ignored (not the device)", self.name, host)
        return False

    def expect_ssrc(self, ssrc: int) -> None:
        """The SSRC the device's SDP answer settled on, when it differs from the one we offered.
        Meant for before media flows (between INVITE and its answer's ACK)."""
        self._reorder.expected_ssrc = ssrc

    # -- consumers -----------------------------------------------------------------------------

    def latest_frame(self) -> VideoFrame | None:
        with self._lock:
            return self._latest

    def read_audio(self, max_chunks: int) -> list[AudioChunk]:
        with self._lock:
            return self._audio.take(max_chunks, time.monotonic_ns())

    def stats(self) -> ReceiverStats:
        with self._lock:
            return ReceiverStats(
                self._packets,
                self._bytes,
                self._bad,
                self._rtcp,
                self._decode_errors,
                self._video_frames,
                self._audio_chunks,
                self._connections,
                replace(self._reorder.stats),
                replace(self._demux.stats),
                self._foreign_source,
            )

    def health(self, name: str, audio: bool) -> SourceHealth:
        now = time.monotonic_ns()
        s = self.settings
        with self._lock:
            packet_age = (now - self._last_packet_ns) / _NS if self._last_packet_ns is not None else None
            link_up = self._conn is not None if s.transport != "udp" else True
            flowing = packet_age is not None and packet_age < s.stale_after_s
            connected = self._thread is not None and link_up and flowing
            r = self._reorder.stats
            if not self._thread or packet_age is None:
                detail = self._detail
            elif not flowing:
                detail = f"no media for {packet_age:.1f} s"
            elif not link_up:
                detail = self._detail
            else:
                detail = f"last packet {packet_age:.2f} s ago"
            if r.received:
                detail += f"; lost {r.lost} of {r.received + r.lost} packets, {r.reordered} reordered"
            if r.foreign_ssrc:
                detail += f"; {r.foreign_ssrc} packets from another SSRC ignored"
            if self._foreign_source:
                what = "packets" if s.transport == "udp" else "connections"
                detail += f"; {self._foreign_source} {what} from another address ignored"
            if audio:
                last, rate = self._last_audio_ns, self._audio_meter.rate(now)
                if self._audio.overruns:
                    detail += f"; {self._audio.overruns} chunks dropped: the recorder fell behind"
            else:
                last = self._latest.pts_ns if self._latest is not None else None
                rate = self._video_meter.rate(now)
            return SourceHealth(
                name=name,
                connected=connected,
                last_frame_age_s=(now - last) / _NS if last is not None else None,
                fps=rate,
                errors=self._bad + self._decode_errors + (self._audio.overruns if audio else 0),
                reconnects=max(0, self._connections - 1),
                detail=f"GB/T 28181 {s.transport}: {detail}",
                kind="gb28181",
                bitrate_kbps=self._byte_meter.amount_rate(now) * 8 / 1000,
                dropped=self._audio.overruns if audio else 0,
                dropped_recent=self._audio.recent_overruns(now) if audio else 0,
            )

    # -- the reader thread ---------------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        sel = selectors.DefaultSelector()
        failures = 0
        try:
            if self._server is not None:
                sel.register(self._server, selectors.EVENT_READ, "server")
            while not stop.is_set():
                if self.settings.transport == "tcp-active" and self._conn is None:
                    if not self._connect_out(sel):
                        failures += 1
                        stop.wait(min(self.settings.retry_max_s, 0.1 * 2 ** min(failures, 5)))
                        continue
                    failures = 0
                try:
                    self._step(sel)
                except Exception:
                    _log.exception("GB/T 28181 media %s: failed on received media", self.name)
                    with self._lock:
                        self._bad += 1
                    self._demux.lost()
        finally:
            sel.close()

    def _step(self, sel: selectors.BaseSelector) -> None:
        for key, _ in sel.select(_TICK_S):
            if key.data == "server" and self.settings.transport == "udp":
                self._read_udp()
            elif key.data == "server":
                self._accept(sel)
            else:
                self._read_tcp(sel)
        self._deliver(self._reorder.poll(time.monotonic_ns()))

    def _connect_out(self, sel: selectors.BaseSelector) -> bool:
        remote = self.settings.remote
        assert remote is not None
        try:
            conn = socket.create_connection(remote, timeout=1.0)
        except OSError as exc:
            with self._lock:
                self._detail = f"cannot connect to the device at {remote[0]}:{remote[1]}: {exc}"
            return False
        self._use_connection(sel, conn)
        return True

    def _accept(self, sel: selectors.BaseSelector) -> None:
        assert self._server is not None
        conn, peer = self._server.accept()
        if not self._from_allowed(peer[0]):
            _log.warning("GB/T 28181 media %s: connection from %s:%d refused (not the device)", self.name, *peer[:2])
            conn.close()
            return
        # The newest connection wins: a device that reconnects does not close the old one first.
        self._drop_connection(sel, "")
        _log.info("GB/T 28181 media %s: device connected from %s:%d", self.name, peer[0], peer[1])
        self._use_connection(sel, conn)

    def _use_connection(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ, "conn")
        self._deframer.reset()
        self._reorder.reset()  # a new connection may carry a restarted stream
        self._demux.reset()
        self._decoder.reset()
        with self._lock:
            self._conn = conn
            self._connections += 1
            self._detail = "connected, no media yet"

    def _drop_connection(self, sel: selectors.BaseSelector, reason: str) -> None:
        conn = self._conn
        if conn is None:
            return
        sel.unregister(conn)
        conn.close()
        with self._lock:
            self._conn = None
            if reason:
                self._detail = reason

    def _read_udp(self) -> None:
        assert self._server is not None
        for _ in range(256):  # drain what is queued, but come back to the timers regularly
            try:
                data, source = self._server.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            if self._from_allowed(source[0]):
                self._packet(data)

    def _read_tcp(self, sel: selectors.BaseSelector) -> None:
        assert self._conn is not None
        try:
            data = self._conn.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop_connection(sel, f"connection lost: {exc}")
            return
        if not data:
            self._drop_connection(sel, "the device closed the connection")
            return
        for packet in self._deframer.feed(data):
            self._packet(packet)

    def _packet(self, data: bytes) -> None:
        now = time.monotonic_ns()
        try:
            packet = parse_rtp(data)
        except RtpError as exc:
            with self._lock:
                self._bad += 1
            _log.debug("GB/T 28181 media %s: dropped a non-RTP packet: %s", self.name, exc)
            return
        if 64 <= packet.payload_type <= 95:
            # RTCP multiplexed on the media port (RFC 5761 §4): some devices do; not media.
            with self._lock:
                self._rtcp += 1
            return
        with self._lock:
            self._packets += 1
            self._bytes += len(data)
            self._last_packet_ns = now
            self._byte_meter.tick(now, len(data))
        self._deliver(self._reorder.push(packet, now))

    def _deliver(self, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            if d.discontinuity:
                self._demux.lost()
            units = self._demux.feed(d.packet.payload)
            if d.packet.marker:
                units += self._demux.end_of_frame()
            for unit in units:
                arrival = time.monotonic_ns()
                decoded = self._decoder.decode(unit, arrival)
                with self._lock:
                    self._decode_errors += decoded.errors
                    for picture in decoded.video:
                        self._latest = picture
                        self._video_frames += 1
                        self._video_meter.tick(arrival)
                    for chunk in decoded.audio:
                        self._audio.put(chunk, arrival)
                        self._audio_chunks += 1
                        self._last_audio_ns = arrival
                        self._audio_meter.tick(arrival)
