"""Replay of archived clips: the player's view of each clip, and a bounded pool of reads from the store.

The stored object is signed evidence and is never changed. What the browser is served is its replay
view (`storage.replay_view`): the object's bytes with seek boxes inserted, built from the clip's
fragment index in the catalogue (`replay_indexes`). Ingest makes the index while it re-hashes the
object; a clip archived before has its index made on its first replay, from one sequential read of
the object in large chunks.

A range request is answered with at most `max_response_bytes` (a player asks again for what follows).
The object's bytes are read from the store in aligned blocks, kept for a while (`replay_cache`): a
player's seek asks for overlapping ranges, and only the first needs the store. Each store read is one
ranged read, taken under one of `max_concurrent_reads` slots. A slot is held only while the store is read: the web server buffers the
answer and sends it on to a slow player without a worker. When every slot stays taken for
`slot_wait_s` the request is refused (`ReplayBusy`, answered 503 with Retry-After).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.archive.replay_cache import BlockCache, filling, from_blocks
from center_platform.db.models import Recording, ReplayIndex
from center_platform.ingest.keyed_locks import KeyedLocks
from storage.mp4_index import FragmentIndex, FragmentScanner, Mp4IndexError
from storage.object_store import ObjectStore, StorageError
from storage.replay_view import replay_view
from storage.virtual_media import RangeAnswer, VirtualMedia

log = logging.getLogger(__name__)
INDEX_READ_CHUNK = 8 * 1024 * 1024
VIEWS_CACHED = 32


class ReplayBusy(RuntimeError):
    """Every store-read slot is taken: the player should ask again shortly."""


@dataclass(frozen=True)
class ReplaySettings:
    max_concurrent_reads: int = 6
    max_response_bytes: int = 4 * 1024 * 1024
    slot_wait_s: float = 1.0
    retry_after_s: int = 1
    cache_bytes: int = 64 * 1024 * 1024  # the object's bytes read most recently, kept for the next requests


def index_row(recording: Recording, scanner: FragmentScanner) -> ReplayIndex:
    """The catalogue row for what `scanner` read of the recording's object (every byte of it, in order)."""
    row = ReplayIndex(recording_id=recording.id, version_id=recording.version_id, media_size=scanner.position)
    try:
        row.fragment_index = scanner.finish().to_bytes()
        row.note = ""
    except Mp4IndexError as exc:
        row.fragment_index = None
        row.note = str(exc)[:500]
    return row


class ReplayService:
    def __init__(self, sessions: sessionmaker[Session], store: ObjectStore, settings: ReplaySettings) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_reads)
        self._building = KeyedLocks()
        self._views: OrderedDict[tuple[int, str], VirtualMedia] = OrderedDict()
        self._views_guard = threading.Lock()
        self._in_use = 0
        self._cache = BlockCache(settings.cache_bytes)
        self.store_reads = 0  # ranged reads of the store made for players (not counting index builds)

    # -- the view ---------------------------------------------------------------------------------

    def view(self, rec: Recording) -> VirtualMedia:
        """The clip as the player sees it; its index is made first if the catalogue has none."""
        key = (rec.id, rec.version_id)
        with self._views_guard:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        blob, size = self._stored_index(rec)
        if size is None:
            with self._building.hold(rec.clip_id):  # one read of the object, however many players ask at once
                blob, size = self._stored_index(rec)
                if size is None:
                    blob, size = self._build_index(rec)
        view = VirtualMedia.as_is(size)
        if blob is not None:
            try:
                view = replay_view(FragmentIndex.from_bytes(blob))
            except Mp4IndexError as exc:
                log.error("replay index of clip %s is unreadable (%s); playing it as it is", rec.clip_id, exc)
        with self._views_guard:
            self._views[key] = view
            while len(self._views) > VIEWS_CACHED:
                self._views.popitem(last=False)
        return view

    def _stored_index(self, rec: Recording) -> tuple[bytes | None, int | None]:
        with self.sessions() as db:
            row = db.execute(
                select(ReplayIndex).where(ReplayIndex.recording_id == rec.id, ReplayIndex.version_id == rec.version_id)
            ).scalar_one_or_none()
            return (row.fragment_index, row.media_size) if row is not None else (None, None)

    def _build_index(self, rec: Recording) -> tuple[bytes | None, int]:
        """One sequential read of the whole object in large chunks; the index is kept in the catalogue."""
        scanner = FragmentScanner()
        with self._slot():
            read = self.store.read_range(rec.object_key, rec.version_id, 0, None, chunk=INDEX_READ_CHUNK)
            try:
                for block in read.body:
                    scanner.feed(block)
            except OSError as exc:
                raise StorageError(f"reading {rec.object_key} failed mid-stream: {exc}") from exc
            finally:
                read.close()
        row = index_row(rec, scanner)
        with self.sessions() as db:
            if db.get(ReplayIndex, rec.id) is None:
                db.add(row)
            else:  # another center process made one meanwhile, or the version changed: this one is current
                db.merge(row)
            db.commit()
        log.info("replay index of clip %s made on first replay: %s", rec.clip_id, row.note or "indexed")
        return row.fragment_index, row.media_size

    # -- reading ----------------------------------------------------------------------------------

    @contextmanager
    def _slot(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def stream(self, rec: Recording, view: VirtualMedia, answer: RangeAnswer) -> Iterator[bytes]:
        """The body of `answer`: one ranged store read under a slot (none for inserted bytes alone).

        The store is asked before this returns, so an unreachable store or a full pool is an error the
        caller can still answer; the slot is given back when the body is read or dropped.
        """
        if answer.length == 0:
            return iter(())
        span = view.original_span(answer.start, answer.end)
        if span is None:
            return view.read(answer.start, answer.end, iter(()))
        first, last = span[0] // self._cache.block, span[1] // self._cache.block
        kept = self._cache.leading(rec.object_key, rec.version_id, first, last)
        from_memory = from_blocks(kept, first, self._cache.block, *span)
        if len(kept) == last - first + 1:
            return view.read(answer.start, answer.end, from_memory)
        # One store read from the first block not kept to the end of the range's last block.
        read_from = (first + len(kept)) * self._cache.block
        read_to = min((last + 1) * self._cache.block, rec.size) - 1
        self._acquire()
        try:
            read = self.store.read_range(rec.object_key, rec.version_id, read_from, read_to)
            self.store_reads += 1
        except BaseException:
            self._release()
            raise
        fresh = filling(self._cache, rec.object_key, rec.version_id, read.body, read_from, rec.size, *span)
        return self._body(view, answer, itertools.chain(from_memory, fresh), read.close)

    def _body(
        self, view: VirtualMedia, answer: RangeAnswer, original: Iterator[bytes], close: Callable[[], None]
    ) -> Iterator[bytes]:
        try:
            yield from view.read(answer.start, answer.end, original)
            for _ in original:  # the rest of the last block read, so that it is kept whole
                pass
        finally:
            close()
            self._release()

    def _acquire(self) -> None:
        if not self._slots.acquire(timeout=self.settings.slot_wait_s):
            raise ReplayBusy("every replay slot is busy")
        with self._views_guard:
            self._in_use += 1

    def _release(self) -> None:
        with self._views_guard:
            self._in_use -= 1
        self._slots.release()

    @property
    def slots_in_use(self) -> int:
        """Store reads under way now."""
        return self._in_use
