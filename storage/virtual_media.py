"""A file as a player sees it: stretches of the original bytes and small inserted ones, read by range.

The evidence file is never changed. What a player is served may add bytes around it (an index the
player seeks with); `VirtualMedia` lists the pieces in order and answers a byte range with the parts of
the original it needs and the inserted bytes between them. `answer_range` turns a Range header into
the status and headers of the HTTP answer, capped so that one request never carries more than a few
megabytes (a player continues with the next request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Original:
    """Bytes [start, end) of the original file."""

    start: int
    end: int


@dataclass(frozen=True)
class Inserted:
    data: bytes


Piece = Original | Inserted


class VirtualMedia:
    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = [p for p in pieces if _length(p) > 0]
        originals = [p for p in self.pieces if isinstance(p, Original)]
        if any(a.end != b.start for a, b in pairwise(originals)):
            raise ValueError("the original's pieces must follow each other: bytes are inserted, never moved")
        self._starts: list[int] = []
        pos = 0
        for p in self.pieces:
            self._starts.append(pos)
            pos += _length(p)
        self.size = pos

    @classmethod
    def as_is(cls, size: int) -> VirtualMedia:
        return cls([Original(0, size)])

    @property
    def is_original(self) -> bool:
        """Nothing inserted: the view is the original file."""
        return all(isinstance(p, Original) for p in self.pieces) and len(self.pieces) <= 1

    def parts(self, start: int, end: int) -> Iterator[Piece]:
        """What bytes [start, end] (inclusive) of the view are made of, in order."""
        if not 0 <= start <= end < self.size:
            raise ValueError(f"bytes {start}-{end} are outside 0-{self.size - 1}")
        for piece, at in zip(self.pieces, self._starts):
            length = _length(piece)
            if at + length <= start:
                continue
            if at > end:
                return
            lo, hi = max(start, at) - at, min(end + 1, at + length) - at
            if isinstance(piece, Original):
                yield Original(piece.start + lo, piece.start + hi)
            else:
                yield Inserted(piece.data[lo:hi])

    def original_span(self, start: int, end: int) -> tuple[int, int] | None:
        """The original's bytes (first, last inclusive) that bytes [start, end] of the view need; None: none."""
        originals = [p for p in self.parts(start, end) if isinstance(p, Original)]
        if not originals:
            return None
        return originals[0].start, originals[-1].end - 1

    def read(self, start: int, end: int, original: Iterator[bytes]) -> Iterator[bytes]:
        """Bytes [start, end] of the view, given `original` yielding the bytes of `original_span(start, end)`.

        The inserted pieces sit between stretches of the original that follow each other in it, so one
        sequential read of the original serves a whole range of the view.
        """
        source = _Chunks(original)
        for part in self.parts(start, end):
            if isinstance(part, Inserted):
                yield part.data
            else:
                yield from source.take(part.end - part.start)


class _Chunks:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def take(self, count: int) -> Iterator[bytes]:
        while count > 0:
            if not self._left:
                self._left = next(self._chunks, b"")
                if not self._left:
                    raise ValueError(f"the original ended {count} bytes early")
            piece, self._left = self._left[:count], self._left[count:]
            count -= len(piece)
            yield piece


def _length(piece: Piece) -> int:
    return piece.end - piece.start if isinstance(piece, Original) else len(piece.data)


class RangeNotServed(ValueError):
    """A Range header this server does not serve (several ranges, not bytes): answered 416."""


@dataclass(frozen=True)
class RangeAnswer:
    status: int  # 200, 206 or 416
    start: int
    end: int  # inclusive; end < start for an empty body
    size: int  # of the whole (virtual) file

    @property
    def length(self) -> int:
        return max(0, self.end - self.start + 1)

    def headers(self) -> dict[str, str]:
        out = {"Accept-Ranges": "bytes"}
        if self.status == 416:
            out["Content-Range"] = f"bytes */{self.size}"
            return out
        out["Content-Length"] = str(self.length)
        if self.status == 206:
            out["Content-Range"] = f"bytes {self.start}-{self.end}/{self.size}"
        return out


def answer_range(header: str, size: int, cap: int | None = None) -> RangeAnswer:
    """How to answer `Range: header` for a file of `size` bytes, at most `cap` bytes in one answer.

    No header: 200 with the whole file. One `bytes=` range (first-last, first-, or the last N): 206 with
    that range, shortened to `cap` bytes (Content-Range says what was sent; a player asks for the rest).
    A range starting past the end: 416. Anything else raises RangeNotServed.
    """
    if not header.strip():
        return RangeAnswer(200, 0, size - 1, size)
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotServed("unsupported Range header: only one bytes=START-END range is served")
    if m.group(1):
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if m.group(2) and end < start:
            raise RangeNotServed(f"range end {end} is before its start {start}")
    else:  # suffix range: the last N bytes
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size or (not m.group(1) and int(m.group(2)) == 0):
        return RangeAnswer(416, 0, -1, size)
    end = min(end, size - 1)
    if cap is not None:
        end = min(end, start + cap - 1)
    return RangeAnswer(206, start, end, size)
