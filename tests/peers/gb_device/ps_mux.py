"""MPEG-2 Program Stream muxer (ISO/IEC 13818-1 §2.5) shaped like GB/T 28181 cameras' output.

Each video frame becomes one pack: pack header, then on key frames the system header and the
program stream map (so a receiver that joins late, or lost packets, learns the codecs at the next
key frame), then the frame in as many PES packets as its size needs, PTS on the first only. Each
audio frame becomes its own small pack. This is what the GB/T 28181-2016 annex C examples and the
common device firmwares send, and what the device simulator uses; FFmpeg's ``mpeg`` demuxer reads
it (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

PACK_START = b"\x00\x00\x01\xba"
SYSTEM_HEADER_START = b"\x00\x00\x01\xbb"
PSM_START = b"\x00\x00\x01\xbc"

VIDEO_STREAM_ID = 0xE0
AUDIO_STREAM_ID = 0xC0

STREAM_TYPES: dict[str, int] = {
    "h264": 0x1B,
    "hevc": 0x24,
    "aac": 0x0F,
    "pcm_alaw": 0x90,
    "pcm_mulaw": 0x91,
}

# A PES length field is 16 bits and counts the 3 flag bytes and the header data too.
_MAX_PES_PAYLOAD = 0xFFFF - 3 - 10
_MUX_RATE = 6106  # units of 50 bytes/s; receivers ignore it but FFmpeg wants it non-zero


def _crc32_mpeg(data: bytes) -> int:
    # CRC-32/MPEG-2: polynomial 0x04C11DB7, not reflected, no final xor (unlike zlib.crc32).
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def encode_timestamp(prefix: int, ts: int) -> bytes:
    """A 33-bit PTS/DTS in the 5-byte PES form, with its 4-bit prefix and marker bits."""
    ts &= (1 << 33) - 1
    v = (prefix << 36) | ((ts >> 30) & 0x7) << 33 | 1 << 32
    v |= ((ts >> 15) & 0x7FFF) << 17 | 1 << 16 | (ts & 0x7FFF) << 1 | 1
    return v.to_bytes(5, "big")


def pack_header(scr: int, stuffing: int = 0) -> bytes:
    """MPEG-2 pack header: SCR (90 kHz base, extension 0), mux rate, ``stuffing`` 0xFF bytes."""
    if not 0 <= stuffing <= 7:
        raise ValueError(f"pack stuffing is 0..7 bytes, got {stuffing}")
    scr &= (1 << 33) - 1
    v = 1 << 46 | ((scr >> 30) & 0x7) << 43 | 1 << 42 | ((scr >> 15) & 0x7FFF) << 27
    v |= 1 << 26 | (scr & 0x7FFF) << 11 | 1 << 10 | 1  # SCR extension 0
    rate = (_MUX_RATE << 2) | 0x3
    return PACK_START + v.to_bytes(6, "big") + rate.to_bytes(3, "big") + bytes([0xF8 | stuffing]) + b"\xff" * stuffing


def system_header(stream_ids: list[int]) -> bytes:
    audio = sum(1 for s in stream_ids if 0xC0 <= s <= 0xDF)
    video = sum(1 for s in stream_ids if 0xE0 <= s <= 0xEF)
    body = bytearray()
    body += ((1 << 23) | (_MUX_RATE << 1) | 1).to_bytes(3, "big")  # marker, rate_bound, marker
    body.append((audio << 2) | 0x00)  # audio_bound, fixed=0, CSPS=0
    body.append(0xE0 | video)  # audio lock, video lock, marker, video_bound
    body.append(0x7F)  # packet_rate_restriction=0, reserved
    for sid in stream_ids:
        # P-STD buffer: audio in units of 128 bytes, video in units of 1024 bytes.
        if sid >= 0xE0:
            bound = 0xC000 | 0x2000 | 512  # '11', scale=1, 512 KiB
        else:
            bound = 0xC000 | 32  # '11', scale=0, 4 KiB
        body += bytes([sid]) + bound.to_bytes(2, "big")
    return SYSTEM_HEADER_START + len(body).to_bytes(2, "big") + bytes(body)


def program_stream_map(streams: dict[int, str], version: int = 0) -> bytes:
    entries = bytearray()
    for sid, codec in streams.items():
        entries += bytes([STREAM_TYPES[codec], sid, 0, 0])
    body = bytearray([0x80 | (version & 0x1F), 0xFF, 0, 0])  # current_next=1, no program info
    body += len(entries).to_bytes(2, "big") + entries
    length = len(body) + 4  # CRC
    head = PSM_START + length.to_bytes(2, "big")
    crc = _crc32_mpeg(head + body)
    return head + bytes(body) + crc.to_bytes(4, "big")


def pes_packets(stream_id: int, payload: bytes, pts: int | None, dts: int | None = None) -> bytes:
    """``payload`` in PES packets; only the first carries the timestamps."""
    out = bytearray()
    pos = 0
    first = True
    while first or pos < len(payload):
        if first and pts is not None:
            if dts is not None and dts != pts:
                flags, header = 0xC0, encode_timestamp(0x3, pts) + encode_timestamp(0x1, dts)
            else:
                flags, header = 0x80, encode_timestamp(0x2, pts)
        else:
            flags, header = 0x00, b""
        chunk = payload[pos : pos + _MAX_PES_PAYLOAD]
        pos += len(chunk)
        # data_alignment_indicator on the first: the payload starts with an access unit.
        out += b"\x00\x00\x01" + bytes([stream_id])
        out += (3 + len(header) + len(chunk)).to_bytes(2, "big")
        out += bytes([0x84 if first else 0x80, flags, len(header)]) + header + chunk
        first = False
    return bytes(out)


@dataclass
class PsMuxer:
    video_codec: str = "h264"
    audio_codec: str | None = None
    pack_stuffing: int = 0
    # SCR runs this far behind the DTS so a strict decoder model does not see data late.
    scr_lead: int = 3600

    def __post_init__(self) -> None:
        for codec in (self.video_codec, self.audio_codec):
            if codec is not None and codec not in STREAM_TYPES:
                raise ValueError(f"no PS stream type for codec {codec!r}")
        self._streams: dict[int, str] = {VIDEO_STREAM_ID: self.video_codec}
        if self.audio_codec:
            self._streams[AUDIO_STREAM_ID] = self.audio_codec

    def video(self, frame: bytes, pts: int, key: bool, dts: int | None = None) -> bytes:
        """One pack holding a whole video access unit (Annex B for H.264/H.265)."""
        out = bytearray(pack_header(max(0, (dts if dts is not None else pts) - self.scr_lead), self.pack_stuffing))
        if key:
            out += system_header(list(self._streams))
            out += program_stream_map(self._streams)
        out += pes_packets(VIDEO_STREAM_ID, frame, pts, dts)
        return bytes(out)

    def audio(self, frame: bytes, pts: int) -> bytes:
        if not self.audio_codec:
            raise ValueError("this muxer was made without an audio stream")
        head = pack_header(max(0, pts - self.scr_lead), self.pack_stuffing)
        return head + pes_packets(AUDIO_STREAM_ID, frame, pts)
