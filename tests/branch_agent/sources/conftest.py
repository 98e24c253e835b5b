from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.rtsp_peer import RtspPeer, unavailable_reason


@pytest.fixture(scope="session")
def gstreamer_rtsp() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture()
def rtsp_camera(gstreamer_rtsp: None) -> Iterator[RtspPeer]:
    """A live H.264 + G.711 camera served by GStreamer's RTSP server."""
    peer = RtspPeer()
    peer.start()
    yield peer
    peer.kill()
