"""The archive's bytes read most recently for replay, kept in aligned blocks.

A player seeking in a clip asks for overlapping ranges several times within a second (the fragment it
lands in, the one before it for the sound, then on from there). Each block of the object read from the
store for one of them is kept, so the next ones are answered from memory; a range whose blocks are all
here needs no store read at all. The total kept is bounded; the least recently used block goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

BLOCK = 1024 * 1024

BlockKey = tuple[str, str, int]  # object key, version, block number


class BlockCache:
    def __init__(self, max_bytes: int, block: int = BLOCK) -> None:
        self.block = block
        self._max_blocks = max(0, max_bytes // block)
        self._blocks: OrderedDict[BlockKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def leading(self, key: str, version: str, first: int, last: int) -> list[bytes]:
        """The blocks first, first+1, ... that are here, up to the first one that is not (or `last`)."""
        found = []
        with self._lock:
            for n in range(first, last + 1):
                data = self._blocks.get((key, version, n))
                if data is None:
                    break
                self._blocks.move_to_end((key, version, n))
                found.append(data)
        return found

    def put(self, key: str, version: str, number: int, data: bytes) -> None:
        if not self._max_blocks:
            return
        with self._lock:
            self._blocks[(key, version, number)] = data
            self._blocks.move_to_end((key, version, number))
            while len(self._blocks) > self._max_blocks:
                self._blocks.popitem(last=False)


def from_blocks(blocks: list[bytes], first_block: int, block: int, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end (inclusive, object offsets) of consecutive blocks beginning with `first_block`."""
    base = first_block * block
    for n, data in enumerate(blocks):
        lo, hi = base + n * block, base + n * block + len(data)
        if hi <= start or lo > end:
            continue
        yield data[max(start, lo) - lo : min(end + 1, hi) - lo]


def filling(
    cache: BlockCache,
    key: str,
    version: str,
    chunks: Iterator[bytes],
    read_from: int,
    object_size: int,
    start: int,
    end: int,
) -> Iterator[bytes]:
    """Bytes start..end of a store read that began at block-aligned `read_from`; whole blocks are kept."""
    block, pos, pending = cache.block, read_from, bytearray()
    for chunk in chunks:
        lo, hi = pos, pos + len(chunk)
        if hi > start and lo <= end:
            yield chunk[max(start, lo) - lo : min(end + 1, hi) - lo]
        pending += chunk
        pos = hi
        while len(pending) >= block or (pos == object_size and pending):
            number = (pos - len(pending)) // block
            cache.put(key, version, number, bytes(pending[:block]))
            del pending[:block]
        if pos > end and not pending:
            return
