"""The fragment index of a fragmented MP4: where each fragment starts and when, per track.

A player finds a position in a fragmented MP4 through an index of its fragments; without one it walks
the file fragment by fragment (thousands of range requests for an hour of video). The evidence bytes
never change, so the index is built beside them: `FragmentScanner` is fed the file's bytes in order,
in chunks of any size, and notes each `moof` (its offset and, per track, the presentation time of its
first sample and the duration of its samples). `storage.mp4_seek_boxes` turns the index into the
boxes a player seeks with.

Only `moov` and `moof` boxes are held in memory while they are read (each is a few kilobytes); media
data is counted, never kept, and a caller reading a local file may seek past it (`skippable`). A
fragment counts once its media data is complete: a tail cut off mid-fragment stays out of the index.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_HEADER_BOX = 16 * 1024 * 1024  # a moov or moof beyond this is not a clip of ours: not indexed
_FORMAT_VERSION = 1
_MAGIC = b"DRFI"
_HEAD = struct.Struct(">4sBQQQQ?II")
_NONE = -(2**63)  # "this track has no samples in that fragment"


class Mp4IndexError(ValueError):
    """The bytes are not a fragmented MP4 this module can index."""


@dataclass(frozen=True)
class Track:
    track_id: int
    timescale: int
    handler: str  # "vide", "soun", ...


@dataclass
class FragmentIndex:
    """Each complete fragment's `moof` offset and, per track, its first presentation time."""

    media_size: int  # bytes scanned: the size of the file the index describes
    tracks: list[Track]
    moof_offsets: array[int] = field(default_factory=lambda: array("q"))
    # per track id, per fragment: first sample's presentation time (None: no samples of the track there)
    times: dict[int, list[int | None]] = field(default_factory=dict)
    # per track id: presentation time at which the track's last indexed fragment ends
    end_times: dict[int, int] = field(default_factory=dict)
    moov_end: int = 0  # first byte after the moov box
    fragments_end: int = 0  # first byte after the last complete fragment
    complete_size: int = 0  # first byte after the last complete box (< media_size: a partial box follows)
    has_mfra: bool = False  # the file ends with a complete mfra box (a normally closed clip)

    @property
    def fragment_count(self) -> int:
        return len(self.moof_offsets)

    def track(self, handler: str) -> Track | None:
        return next((t for t in self.tracks if t.handler == handler), None)

    def to_bytes(self) -> bytes:
        """A compact, versioned encoding, for the catalogue or a file beside the clip."""
        parts = [
            _HEAD.pack(
                _MAGIC,
                _FORMAT_VERSION,
                self.media_size,
                self.moov_end,
                self.fragments_end,
                self.complete_size,
                self.has_mfra,
                len(self.tracks),
                self.fragment_count,
            )
        ]
        for t in self.tracks:
            handler = t.handler.encode("ascii", "replace")[:4].ljust(4)
            parts.append(struct.pack(">IIq4s", t.track_id, t.timescale, self.end_times.get(t.track_id, _NONE), handler))
        parts.append(_pack(self.moof_offsets))
        for t in self.tracks:
            starts = self.times.get(t.track_id, [None] * self.fragment_count)
            parts.append(_pack(array("q", (_NONE if v is None else v for v in starts))))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> FragmentIndex:
        if len(blob) < _HEAD.size or blob[:4] != _MAGIC:
            raise Mp4IndexError("not a fragment index")
        _, version, media_size, moov_end, fragments_end, complete_size, has_mfra, n_tracks, n_frags = _HEAD.unpack_from(
            blob
        )
        if version != _FORMAT_VERSION:
            raise Mp4IndexError(f"fragment index format {version}, expected {_FORMAT_VERSION}")
        pos = _HEAD.size
        tracks, end_times = [], {}
        for _ in range(n_tracks):
            track_id, timescale, end, handler = struct.unpack_from(">IIq4s", blob, pos)
            pos += 20
            tracks.append(Track(track_id, timescale, handler.decode("ascii").strip()))
            if end != _NONE:
                end_times[track_id] = end
        offsets, pos = _unpack(blob, pos, n_frags)
        times: dict[int, list[int | None]] = {}
        for t in tracks:
            starts, pos = _unpack(blob, pos, n_frags)
            times[t.track_id] = [None if v == _NONE else v for v in starts]
        if pos != len(blob):
            raise Mp4IndexError("fragment index has trailing bytes")
        return cls(media_size, tracks, offsets, times, end_times, moov_end, fragments_end, complete_size, has_mfra)


def _pack(values: array[int]) -> bytes:
    out = array("q", values)
    out.byteswap()  # stored big-endian, like everything else in an MP4
    return out.tobytes()


def _unpack(blob: bytes, pos: int, count: int) -> tuple[array[int], int]:
    end = pos + 8 * count
    if end > len(blob):
        raise Mp4IndexError("fragment index is truncated")
    values = array("q")
    values.frombytes(blob[pos:end])
    values.byteswap()
    return values, end


# -- reading boxes ------------------------------------------------------------------------------------


def children(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """(type, body) of each box in data; a malformed size ends the walk."""
    pos, stop = 0, len(data)
    while pos + 8 <= stop:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > stop:
                return
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            return
        yield bytes(kind), data[pos + header : pos + size]
        pos += size


def child(data: memoryview, kind: bytes) -> memoryview | None:
    return next((body for k, body in children(data) if k == kind), None)


def _u32(data: memoryview, pos: int) -> int:
    return int(struct.unpack_from(">I", data, pos)[0])


def _parse_moov(moov: memoryview) -> tuple[list[Track], dict[int, int]]:
    """The tracks, and each track's default sample duration from its trex."""
    tracks = []
    for kind, trak in children(moov):
        tkhd, mdia = child(trak, b"tkhd"), child(trak, b"mdia")
        if kind != b"trak" or tkhd is None or mdia is None:
            continue
        mdhd, hdlr = child(mdia, b"mdhd"), child(mdia, b"hdlr")
        if mdhd is None:
            continue
        handler = bytes(hdlr[8:12]).decode("ascii", "replace") if hdlr is not None and len(hdlr) >= 12 else "????"
        tracks.append(Track(_u32(tkhd, 20 if tkhd[0] == 1 else 12), _u32(mdhd, 20 if mdhd[0] == 1 else 12), handler))
    durations = {}
    mvex = child(moov, b"mvex")
    for kind, trex in children(mvex) if mvex is not None else iter(()):
        if kind == b"trex" and len(trex) >= 24:
            durations[_u32(trex, 4)] = _u32(trex, 12)
    return tracks, durations


def _parse_traf(traf: memoryview, trex_durations: dict[int, int]) -> tuple[int, int, int] | None:
    """(track id, first sample's presentation time, duration of all samples) of a track fragment."""
    tfhd, tfdt = child(traf, b"tfhd"), child(traf, b"tfdt")
    if tfhd is None or tfdt is None or len(tfhd) < 8:
        return None
    track_id, tf_flags = _u32(tfhd, 4), int.from_bytes(tfhd[1:4], "big")
    default_duration = trex_durations.get(track_id, 0)
    if tf_flags & 0x08:  # default-sample-duration-present, after base offset (0x01) and description (0x02)
        default_duration = _u32(tfhd, 8 + (8 if tf_flags & 0x01 else 0) + (4 if tf_flags & 0x02 else 0))
    start = int(struct.unpack_from(">Q" if tfdt[0] == 1 else ">I", tfdt, 4)[0])
    duration, first_offset = 0, None
    for kind, trun in children(traf):
        if kind != b"trun" or len(trun) < 8:
            continue
        flags, count = int.from_bytes(trun[1:4], "big"), _u32(trun, 4)
        pos = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
        fields = ">" + "".join(code for bit, code in ((0x100, "I"), (0x200, "I"), (0x400, "I")) if flags & bit)
        fields += ("i" if trun[0] == 1 else "I") if flags & 0x800 else ""
        step = struct.calcsize(fields)
        if pos + step * count > len(trun):
            return None
        if count and first_offset is None:
            first_offset = struct.unpack_from(fields, trun, pos)[-1] if flags & 0x800 else 0
        if flags & 0x100:
            duration += sum(v[0] for v in struct.iter_unpack(fields, trun[pos : pos + step * count]))
        else:
            duration += default_duration * count
    return track_id, start + (first_offset or 0), duration


class FragmentScanner:
    """Feed a fragmented MP4's bytes in order (`feed`), then `finish` for its `FragmentIndex`."""

    def __init__(self) -> None:
        self._pos = 0  # absolute offset of the next byte
        self._header = bytearray()
        self._box_start = 0
        self._box_type = b""
        self._header_len = 8
        self._in_box = False
        self._remaining = 0  # bytes of the current box still to come; -1: it runs to the end of the file
        self._collect: bytearray | None = None
        self._tracks: list[Track] = []
        self._trex: dict[int, int] = {}
        self._offsets = array("q")
        self._frags: list[dict[int, tuple[int, int]]] = []
        self._pending: tuple[int, dict[int, tuple[int, int]]] | None = None
        self._moov_end = 0
        self._fragments_end = 0
        self._complete_end = 0
        self._last_kind = b""
        self._problem = ""

    @property
    def position(self) -> int:
        return self._pos

    def skippable(self) -> int:
        """Bytes from here on that the index does not need (media data): a file reader may seek past them."""
        if self._in_box and self._collect is None and self._remaining > 0:
            return self._remaining
        return 0

    def skip(self, count: int) -> None:
        """Move past `count` bytes that `skippable` allowed, without reading them."""
        if not 0 <= count <= self.skippable():
            raise ValueError(f"{count} bytes cannot be skipped here (at most {self.skippable()})")
        self._pos += count
        self._remaining -= count
        if self._remaining == 0:
            self._end_box()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        at = 0
        while at < len(view):
            if not self._in_box:
                at = self._read_header(view, at)
                continue
            take = len(view) - at if self._remaining < 0 else min(self._remaining, len(view) - at)
            if self._collect is not None:
                self._collect += view[at : at + take]
            at += take
            self._pos += take
            if self._remaining > 0:
                self._remaining -= take
                if self._remaining == 0:
                    self._end_box()

    def _read_header(self, view: memoryview, at: int) -> int:
        if not self._header:
            self._box_start = self._pos
        need = 16 if len(self._header) >= 8 and self._header[:4] == b"\0\0\0\1" else 8
        take = min(need - len(self._header), len(view) - at)
        self._header += view[at : at + take]
        self._pos += take
        at += take
        if len(self._header) < need or (need == 8 and self._header[:4] == b"\0\0\0\1"):
            return at
        size, kind = struct.unpack_from(">I4s", self._header)
        if size == 1:
            size = struct.unpack_from(">Q", self._header, 8)[0]
        if size != 0 and size < need:
            self._problem = f"box at {self._box_start} declares {size} bytes"
            size = 0  # the rest is opaque: nothing further can be indexed
        self._box_type, self._header_len, self._in_box = bytes(kind), need, True
        self._remaining = -1 if size == 0 else size - need
        self._collect = None
        if kind in (b"moov", b"moof") and size != 0:
            if size > MAX_HEADER_BOX:
                self._problem = f"{kind.decode('latin-1')} box of {size} bytes at {self._box_start}"
            else:
                self._collect = bytearray()
        self._header.clear()
        if self._remaining == 0:
            self._end_box()
        return at

    def _end_box(self) -> None:
        kind, body = self._box_type, self._collect
        self._in_box, self._collect = False, None
        self._complete_end, self._last_kind = self._pos, kind
        if kind == b"moov" and body is not None:
            self._tracks, self._trex = _parse_moov(memoryview(body))
            self._moov_end = self._pos
        elif kind == b"moof" and body is not None:
            trafs: dict[int, tuple[int, int]] = {}
            for name, traf in children(memoryview(body)):
                if name == b"traf" and (parsed := _parse_traf(traf, self._trex)) is not None:
                    track_id, start, duration = parsed
                    first = trafs.get(track_id)
                    trafs[track_id] = (start, duration) if first is None else (first[0], first[1] + duration)
            self._pending = (self._box_start, trafs)
        elif kind == b"mdat" and self._pending is not None:
            offset, trafs = self._pending  # the fragment's samples are all there: it can be sought to
            self._offsets.append(offset)
            self._frags.append(trafs)
            self._pending = None
            self._fragments_end = self._pos

    def finish(self) -> FragmentIndex:
        if self._problem:
            raise Mp4IndexError(f"cannot index this file: {self._problem}")
        if not self._tracks:
            raise Mp4IndexError("no moov box with tracks: not an MP4 a player can open")
        times: dict[int, list[int | None]] = {}
        end_times: dict[int, int] = {}
        for t in self._tracks:
            entries = [f.get(t.track_id) for f in self._frags]
            times[t.track_id] = [e[0] if e else None for e in entries]
            last = next((e for e in reversed(entries) if e), None)
            if last is not None:
                end_times[t.track_id] = last[0] + last[1]
        return FragmentIndex(
            media_size=self._pos,
            tracks=list(self._tracks),
            moof_offsets=array("q", self._offsets),
            times=times,
            end_times=end_times,
            moov_end=self._moov_end,
            fragments_end=self._fragments_end,
            complete_size=self._complete_end,
            has_mfra=self._last_kind == b"mfra" and self._complete_end == self._pos,
        )


def scan_file(path: str | os.PathLike[str], read_size: int = 16 * 1024) -> FragmentIndex:
    """Index a local file, seeking past media data rather than reading it: a few reads per fragment."""
    scanner = FragmentScanner()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while scanner.position < size:
            if skip := scanner.skippable():
                scanner.skip(min(skip, size - scanner.position))
                continue
            f.seek(scanner.position)
            data = f.read(min(read_size, size - scanner.position))
            if not data:
                break
            scanner.feed(data)
    return scanner.finish()
