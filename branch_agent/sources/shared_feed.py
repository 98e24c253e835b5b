"""The recorder's views of one shared camera connection: its picture and its sound.

A network camera with a microphone is one connection (an RTSP session, a GB/T 28181 play session)
serving two sources. The connection is reference-counted: each view acquires it on open and
releases it on close, and the last release ends it.
"""

from __future__ import annotations

import threading
from typing import Protocol

from branch_agent.sources.base import AudioChunk, SourceHealth, VideoFrame


class SharedFeed(Protocol):
    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def latest_frame(self) -> VideoFrame | None: ...

    def read_audio(self, max_chunks: int) -> list[AudioChunk]: ...

    def health(self, name: str, audio: bool) -> SourceHealth: ...


class FeedVideoSource:
    """A camera's picture (a ``VideoSource``) from a shared connection."""

    def __init__(self, name: str, feed: SharedFeed) -> None:
        self.name = name
        self.feed = feed

    def open(self) -> None:
        self.feed.acquire()

    def close(self) -> None:
        self.feed.release()

    def latest_frame(self) -> VideoFrame | None:
        return self.feed.latest_frame()

    def health(self) -> SourceHealth:
        return self.feed.health(self.name, audio=False)


class FeedAudioSource:
    """A camera's sound or a microphone (an ``AudioSource``) from a shared connection."""

    def __init__(self, name: str, feed: SharedFeed) -> None:
        self.name = name
        self.feed = feed

    def open(self) -> None:
        self.feed.acquire()

    def close(self) -> None:
        self.feed.release()

    def read(self, max_chunks: int) -> list[AudioChunk]:
        return self.feed.read_audio(max_chunks)

    def health(self) -> SourceHealth:
        return self.feed.health(self.name, audio=True)


class SharedWorker:
    """A connection's worker thread, started for its first user and stopped after its last.

    Subclasses run the connection in ``_run(stop)`` and may prepare it in ``_starting`` (called with
    the lifecycle lock held; an exception there starts nothing) and tidy up in ``_stopped`` (after
    the thread has ended).
    """

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._lifecycle = threading.Lock()
        self._users = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lifecycle:
            self._users += 1
            if self._thread is not None:
                return
            stop = threading.Event()
            self._starting(stop)
            self._stop = stop
            self._thread = threading.Thread(target=self._run, args=(stop,), name=self._thread_name, daemon=True)
            self._thread.start()

    def release(self) -> None:
        with self._lifecycle:
            if self._users == 0:
                return
            self._users -= 1
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
            self._stop.set()
            thread.join()
            self._stopped()

    def _starting(self, stop: threading.Event) -> None:
        pass

    def _stopped(self) -> None:
        pass

    def _run(self, stop: threading.Event) -> None:
        raise NotImplementedError
