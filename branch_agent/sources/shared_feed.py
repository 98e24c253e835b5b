"""The recorder's views of one shared camera connection: its picture and its sound.

A network camera with a microphone is one connection (an RTSP session, a GB/T 28181 play session)
serving two sources. The connection is reference-counted: each view acquires it on open and
releases it on close, and the last release ends it.
"""

from __future__ import annotations

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
