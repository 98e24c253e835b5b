"""The boxes a player seeks a fragmented MP4 with, built from a `FragmentIndex` (ISO/IEC 14496-12).

- `sidx` (segment index, §8.16.3): one reference per fragment of the picture track, with its byte size
  and duration. A player that meets it right after the `moov` knows every fragment without reading
  them: this is what lets a browser open a two-hour clip with a handful of range requests.
- `mfra` (movie fragment random access, §8.8.9-8.8.11): per track a `tfra` with each fragment's
  `moof` offset and start time, closed by `mfro`; it goes at the end of a file. A normally closed clip
  has one (written by the muxer); a clip cut off by a crash has none.

Offsets are those of the file the boxes are placed in: `shift` moves every `moof` offset by the
bytes inserted in front of the fragments.
"""

from __future__ import annotations

import struct

from storage.mp4_index import FragmentIndex, Track, children

MAX_SIDX_REFERENCES = 0xFFFF  # 16-bit count: about 18 hours of one-second fragments


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def box_header(kind: bytes, payload_size: int) -> bytes:
    """The header of a box with `payload_size` bytes of content (64-bit size when it needs one)."""
    if payload_size + 8 <= 0xFFFFFFFF:
        return struct.pack(">I4s", payload_size + 8, kind)
    return struct.pack(">I4sQ", 1, kind, payload_size + 16)


def build_mfra(index: FragmentIndex, shift: int = 0) -> bytes:
    """The `mfra` box: one `tfra` per track with samples (version 1, one-byte traf/trun/sample numbers).

    Every fragment of our clips starts each track with a sync sample (frag_keyframe; audio samples are
    all sync samples), so each entry points at the first sample of the track's first run.
    """
    tfras = []
    for track in index.tracks:
        starts = index.times.get(track.track_id, [])
        entries = [(t, index.moof_offsets[i] + shift) for i, t in enumerate(starts) if t is not None]
        if not entries:
            continue
        body = bytearray(struct.pack(">B3xIII", 1, track.track_id, 0, len(entries)))
        for time, offset in entries:
            body += struct.pack(">qQBBB", time, offset, 1, 1, 1)
        tfras.append(box(b"tfra", bytes(body)))
    inner = b"".join(tfras)
    return box(b"mfra", inner + box(b"mfro", struct.pack(">II", 0, 8 + len(inner) + 16)))


def build_sidx(index: FragmentIndex, track: Track, first_offset: int, last_extra: int = 0) -> bytes | None:
    """A `sidx` for `track`, placed `first_offset` bytes before the first `moof`.

    Each reference is one fragment, from its `moof` to the next one; the last ends at `fragments_end`
    plus `last_extra` bytes (what follows it in the file before an `mfra`). None when the index cannot
    be expressed as one (no fragments, a fragment without a start time first, too many fragments).
    """
    starts = index.times.get(track.track_id, [])
    end_time = index.end_times.get(track.track_id)
    if not starts or starts[0] is None or end_time is None:
        return None
    # A fragment without samples of the track joins the reference before it.
    firsts = [i for i, t in enumerate(starts) if t is not None]
    if len(firsts) > MAX_SIDX_REFERENCES:
        return None
    bounds = [index.moof_offsets[i] for i in firsts] + [index.fragments_end + last_extra]
    times = [starts[i] for i in firsts] + [end_time]
    refs = bytearray()
    for n in range(len(firsts)):
        size, duration = bounds[n + 1] - bounds[n], int(times[n + 1]) - int(times[n])  # type: ignore[arg-type]
        if not 0 < size < 2**31 or not 0 <= duration < 2**32:
            return None
        refs += struct.pack(">III", size, duration, 0x90000000)  # starts with SAP, SAP type 1
    earliest = int(times[0])  # type: ignore[arg-type]
    if earliest < 0:
        return None
    head = struct.pack(">B3xIIQQHH", 1, track.track_id, track.timescale, earliest, first_offset, 0, len(firsts))
    return box(b"sidx", head + bytes(refs))


def parse_mfra(data: bytes) -> dict[int, list[tuple[int, int]]]:
    """(time, moof offset) entries per track id of the `mfra` box in `data`."""
    out: dict[int, list[tuple[int, int]]] = {}
    for kind, body in children(memoryview(data)):
        if kind != b"mfra":
            continue
        for name, tfra in children(body):
            if name != b"tfra":
                continue
            version = tfra[0]
            track_id, lengths, count = struct.unpack_from(">III", tfra, 4)
            pos, numbers = 16, ((lengths >> 4) & 3) + ((lengths >> 2) & 3) + (lengths & 3) + 3
            entries = []
            for _ in range(count):
                time, offset = struct.unpack_from(">qQ" if version == 1 else ">II", tfra, pos)
                pos += (16 if version == 1 else 8) + numbers
                entries.append((time, offset))
            out[track_id] = entries
    return out


def parse_sidx(data: bytes) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(track id, timescale, first offset, [(referenced size, duration)]) of a `sidx` box."""
    kind, body = next(children(memoryview(data)))
    if kind != b"sidx":
        raise ValueError(f"not a sidx box: {kind!r}")
    version = body[0]
    track_id, timescale = struct.unpack_from(">II", body, 4)
    if version == 1:
        _, first_offset, _, count = struct.unpack_from(">QQHH", body, 12)
        pos = 32
    else:
        _, first_offset, _, count = struct.unpack_from(">IIHH", body, 12)
        pos = 24
    refs = [struct.unpack_from(">II", body, pos + 12 * i) for i in range(count)]
    return track_id, timescale, first_offset, [(size & 0x7FFFFFFF, duration) for size, duration in refs]


def trailing_mfra_size(tail: bytes) -> int:
    """The size of the `mfra` box a file ends with, from at least its last 16 bytes; 0 if there is none."""
    if len(tail) < 16 or tail[-12:-8] != b"mfro":
        return 0
    size = int(struct.unpack_from(">I", tail, len(tail) - 4)[0])
    return size if size >= 24 else 0
