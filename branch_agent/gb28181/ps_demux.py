"""Incremental MPEG Program Stream demuxer for GB/T 28181 media (ISO/IEC 13818-1 §2.5).

RTP splits a PS pack at arbitrary byte positions, so the demuxer takes payload bytes in sequence
order, keeps what it cannot parse yet, and hands out elementary-stream access units. The shapes
met in the field, and how they are handled:

* One video frame per pack is the norm, but a frame larger than a PES (64 KiB) spans several PES
  packets, some firmwares put every NAL unit in its own PES with the same PTS, and FFmpeg-style
  muxers cut PES anywhere. So a video access unit is closed by the next video PES with a different
  PTS, or earlier by ``end_of_frame`` when the RTP marker bit says the frame is complete (saves a
  frame of latency). PES packets without PTS continue the current unit.
* Video PES length 0 ("unbounded", allowed for video only): the PES ends at the next system start
  code (00 00 01 followed by 0xB9..0xFF). Inside H.264/H.265 data 00 00 01 is always followed by a
  NAL header byte below 0x80, so this cannot cut a frame.
* The program stream map (stream types) usually comes only with key frames, and some devices
  never send it: until it arrives the codec is guessed from the NAL header bytes (H.264 or H.265)
  and the audio from its first bytes (ADTS sync = AAC, otherwise G.711 A-law, GB's default).
* After lost bytes (``lost()``) nothing before the next pack header can be trusted: the damaged
  access unit is dropped, parsing restarts at the next pack, and video is held back until the next
  key frame, because pictures predicted from a damaged one only decode to garbage.

MPEG-1 system streams (FFmpeg's ``-f mpeg``) are read too: their pack and PES headers differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

_MAX_BUFFER = 4 * 1024 * 1024  # more than any sane frame; beyond it the stream is not PS

CODECS_BY_STREAM_TYPE: dict[int, str] = {
    0x1B: "h264",
    0x24: "hevc",
    0x0F: "aac",
    0x90: "pcm_alaw",
    0x91: "pcm_mulaw",
}
_HEVC_SIGNATURE_TYPES = {19, 20, 21, 32, 33, 34, 35, 39}
_H264_SIGNATURE_TYPES = {1, 5, 6, 7, 8, 9}


@dataclass(frozen=True)
class AccessUnit:
    kind: Literal["video", "audio"]
    codec: str  # FFmpeg decoder name
    stream_id: int
    pts: int | None  # 90 kHz, 33 bits as sent
    dts: int | None
    data: bytes
    key_frame: bool | None = None  # None where it cannot be told (audio)


@dataclass
class DemuxStats:
    packs: int = 0
    pes: int = 0
    psm: int = 0
    units: int = 0
    dropped_units: int = 0  # damaged, or waiting for a key frame after a loss
    skipped_bytes: int = 0  # bytes that did not parse as PS while resynchronising
    resyncs: int = 0


@dataclass
class _Pending:
    stream_id: int
    pts: int | None
    dts: int | None
    parts: list[bytes] = field(default_factory=list)
    psm_seen: bool = False


def _timestamp(b: bytes | bytearray, i: int) -> int:
    return ((b[i] >> 1) & 0x7) << 30 | b[i + 1] << 22 | (b[i + 2] >> 1) << 15 | b[i + 3] << 7 | b[i + 4] >> 1


def _nal_headers(data: bytes, limit: int = 16) -> list[tuple[int, int]]:
    """(first, second) header bytes of the first ``limit`` Annex B NAL units."""
    out: list[tuple[int, int]] = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and len(out) < limit and pos + 4 < len(data):
        out.append((data[pos + 3], data[pos + 4]))
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return out


def guess_video_codec(data: bytes) -> str | None:
    """H.264 or H.265 from the NAL header bytes; None if nothing conclusive is there yet."""
    for first, second in _nal_headers(data):
        if first & 0x80:
            continue
        # H.265 headers are two bytes with layer 0 and temporal id 1 in the second: 0x01.
        if second == 0x01 and (first >> 1) & 0x3F in _HEVC_SIGNATURE_TYPES:
            return "hevc"
        if first & 0x1F in _H264_SIGNATURE_TYPES:
            return "h264"
    return None


def is_key_frame(codec: str, data: bytes) -> bool | None:
    """Whether a decoder can start at this unit; None if it holds no picture to tell by."""
    for first, second in _nal_headers(data, limit=64):
        if codec == "h264":
            nal = first & 0x1F
            # IDR, or a recovery point SEI (payload type 6): cameras with "open GOP" firmware
            # send I-slices without IDR and mark them this way.
            if nal == 5 or (nal == 6 and second == 6):
                return True
            if nal == 1:
                return False
        elif codec == "hevc":
            nal = (first >> 1) & 0x3F
            if 16 <= nal <= 21:
                return True
            if nal < 16:
                return False
    return None


class PsDemuxer:
    """Not thread-safe; one per stream. Feed bytes in order, collect ``AccessUnit``s."""

    def __init__(self, wait_for_key_frame: bool = True) -> None:
        self.stats = DemuxStats()
        self._buf = bytearray()
        self._synced = False  # positioned on a start code we trust
        self._codecs: dict[int, str] = {}  # from the PSM, or guessed
        self._video: _Pending | None = None
        self._psm_since_video = False
        self._last_pes_video = False
        self._scanned = 0  # bytes of an unbounded PES already searched for its end
        self._wait_for_key = wait_for_key_frame
        self._need_key = wait_for_key_frame

    @property
    def codecs(self) -> dict[int, str]:
        return dict(self._codecs)

    def feed(self, data: bytes) -> list[AccessUnit]:
        self._buf += data
        out: list[AccessUnit] = []
        self._parse(out, final=False)
        if len(self._buf) > _MAX_BUFFER:
            self.lost()
        return out

    def lost(self) -> None:
        """Bytes are missing before the next ``feed``: resynchronise at the next pack header."""
        self.reset()
        self.stats.resyncs += 1

    def reset(self) -> None:
        """Start over as at a new stream (a new connection): the next pack, the next key frame.

        Stream types learnt from the PSM are kept: a reconnecting camera does not change codecs,
        and its first key frame will resend the map anyway.
        """
        if self._video is not None:
            self.stats.dropped_units += 1
            self._video = None
        self._buf.clear()
        self._synced = False
        self._last_pes_video = False
        self._scanned = 0
        if self._wait_for_key:
            self._need_key = True

    def end_of_frame(self) -> list[AccessUnit]:
        """The RTP marker bit: the video frame whose bytes were just fed is complete."""
        out: list[AccessUnit] = []
        self._parse(out, final=True)
        if self._last_pes_video:
            self._close_video(out)
        return out

    def flush(self) -> list[AccessUnit]:
        out: list[AccessUnit] = []
        self._parse(out, final=True)
        self._close_video(out)
        return out

    # -- parsing -------------------------------------------------------------------------------

    def _parse(self, out: list[AccessUnit], final: bool) -> None:
        buf = self._buf
        pos = 0
        while True:
            if not self._synced:
                found = buf.find(b"\x00\x00\x01\xba", pos)
                if found < 0:
                    keep = max(pos, len(buf) - 3)  # a start code may straddle the next feed
                    self.stats.skipped_bytes += keep - pos
                    pos = keep
                    break
                self.stats.skipped_bytes += found - pos
                pos = found
                self._synced = True
            if len(buf) - pos < 4:
                break
            if buf[pos] != 0 or buf[pos + 1] != 0 or buf[pos + 2] != 1 or buf[pos + 3] < 0xB9:
                pos = self._skip_garbage(pos)
                continue
            used = self._unit(buf, pos, out, final)
            if used == 0:
                break
            pos += used
        if pos:
            del buf[:pos]

    def _skip_garbage(self, pos: int) -> int:
        # Not a start code where one should be (a wrong PES length): look for the next one.
        buf = self._buf
        search = pos + 1
        while True:
            found = buf.find(b"\x00\x00\x01", search)
            if found < 0 or found + 3 >= len(buf):
                end = max(pos + 1, len(buf) - 3)
                self.stats.skipped_bytes += end - pos
                return end
            if buf[found + 3] >= 0xB9:
                self.stats.skipped_bytes += found - pos
                return found
            search = found + 1

    def _unit(self, buf: bytearray, pos: int, out: list[AccessUnit], final: bool) -> int:
        """Parse the unit at ``pos``; bytes consumed, or 0 if more data is needed."""
        code = buf[pos + 3]
        avail = len(buf) - pos
        if code == 0xBA:
            if avail < 5:
                return 0
            if buf[pos + 4] & 0xC0 == 0x40:  # MPEG-2: 14 bytes plus stuffing
                if avail < 14:
                    return 0
                size = 14 + (buf[pos + 13] & 0x07)
            else:  # MPEG-1: 12 bytes
                size = 12
            if avail < size:
                return 0
            self.stats.packs += 1
            return size
        if code == 0xB9:  # program end
            return 4
        if avail < 6:
            return 0
        length = buf[pos + 4] << 8 | buf[pos + 5]
        if length == 0 and 0xE0 <= code <= 0xEF:
            end = self._unbounded_end(buf, pos, final)
            if end < 0:
                return 0
            size = end - pos
        else:
            size = 6 + length
            if avail < size:
                return 0
        body = bytes(buf[pos + 6 : pos + size])
        if code == 0xBC:
            self._program_stream_map(body)
        elif 0xC0 <= code <= 0xEF:
            self._pes(code, body, out)
        # 0xBB system header, 0xBD-0xBF private and padding streams: nothing we need.
        return size

    def _unbounded_end(self, buf: bytearray, pos: int, final: bool) -> int:
        # A big frame arrives in many pieces: resume the search where the last one stopped
        # rather than rescanning the whole frame on every RTP packet.
        search = pos + max(6, self._scanned)
        while True:
            found = buf.find(b"\x00\x00\x01", search)
            if found < 0 or found + 3 >= len(buf):
                if final:
                    self._scanned = 0
                    return len(buf)
                self._scanned = max(6, len(buf) - 3 - pos)
                return -1
            if buf[found + 3] >= 0xB9:
                self._scanned = 0
                return found
            search = found + 3

    def _program_stream_map(self, body: bytes) -> None:
        # Lengths are bounded by the body: some firmwares get them wrong, which must not crash.
        self.stats.psm += 1
        self._psm_since_video = True
        if len(body) < 6:
            return
        info_len = body[2] << 8 | body[3]
        pos = 4 + info_len
        if pos + 2 > len(body):
            return
        map_len = body[pos] << 8 | body[pos + 1]
        pos += 2
        end = min(len(body), pos + map_len)
        while pos + 4 <= end:
            stream_type, sid = body[pos], body[pos + 1]
            es_info_len = body[pos + 2] << 8 | body[pos + 3]
            codec = CODECS_BY_STREAM_TYPE.get(stream_type)
            if codec is not None:
                self._codecs[sid] = codec
            pos += 4 + es_info_len

    def _pes(self, sid: int, body: bytes, out: list[AccessUnit]) -> None:
        self.stats.pes += 1
        parsed = _pes_header(body)
        if parsed is None:
            self.stats.skipped_bytes += len(body)
            return
        pts, dts, start = parsed
        payload = body[start:]
        if sid >= 0xE0:
            self._last_pes_video = True
            cur = self._video
            if cur is not None and pts is not None and (pts != cur.pts or cur.stream_id != sid):
                self._close_video(out)
                cur = None
            if cur is None:
                if pts is None:
                    # The rest of a frame whose start was lost or already closed.
                    self.stats.dropped_units += 1
                    return
                cur = self._video = _Pending(sid, pts, dts, psm_seen=self._psm_since_video)
                self._psm_since_video = False
            cur.parts.append(payload)
            return
        self._last_pes_video = False
        if not payload:
            return
        codec = self._codecs.get(sid)
        if codec is None:
            codec = "aac" if payload[0] == 0xFF and payload[1:2] and payload[1] & 0xF0 == 0xF0 else "pcm_alaw"
            self._codecs[sid] = codec
        self.stats.units += 1
        out.append(AccessUnit("audio", codec, sid, pts, dts if dts is not None else pts, payload))

    def _close_video(self, out: list[AccessUnit]) -> None:
        cur, self._video = self._video, None
        self._last_pes_video = False
        if cur is None:
            return
        data = b"".join(cur.parts)
        if not data:
            return
        codec = self._codecs.get(cur.stream_id)
        if codec is None:
            codec = guess_video_codec(data)
            if codec is None:
                self.stats.dropped_units += 1
                return
            self._codecs[cur.stream_id] = codec
        key = is_key_frame(codec, data)
        if key is None:
            # GB/T 28181 devices send the PSM with key frames only: the best hint left.
            key = cur.psm_seen
        if self._need_key:
            if not key:
                self.stats.dropped_units += 1
                return
            self._need_key = False
        self.stats.units += 1
        dts = cur.dts if cur.dts is not None else cur.pts
        out.append(AccessUnit("video", codec, cur.stream_id, cur.pts, dts, data, key))


def _pes_header(body: bytes) -> tuple[int | None, int | None, int] | None:
    """(PTS, DTS, payload offset) of a PES body (after its length field); None if malformed."""
    if not body:
        return None
    if body[0] & 0xC0 == 0x80:  # MPEG-2 PES header
        if len(body) < 3:
            return None
        flags, header_len = body[1], body[2]
        start = 3 + header_len
        if start > len(body):
            return None
        pts = dts = None
        if flags & 0x80 and header_len >= 5:
            pts = _timestamp(body, 3)
            if flags & 0x40 and header_len >= 10:
                dts = _timestamp(body, 8)
        return pts, dts, start
    # MPEG-1: stuffing, optional STD buffer size, then the timestamps.
    pos = 0
    while pos < len(body) and pos < 16 and body[pos] == 0xFF:
        pos += 1
    if pos < len(body) and body[pos] & 0xC0 == 0x40:
        pos += 2
    if pos >= len(body):
        return None
    marker = body[pos] & 0xF0
    if marker == 0x20 and pos + 5 <= len(body):
        return _timestamp(body, pos), None, pos + 5
    if marker == 0x30 and pos + 10 <= len(body):
        return _timestamp(body, pos), _timestamp(body, pos + 5), pos + 10
    if body[pos] == 0x0F:
        return None, None, pos + 1
    return None
