"""A WSGI app served by waitress on a free local port for the length of a test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from waitress import create_server


def stop_server(server: Any, thread: threading.Thread) -> None:
    """Stops a waitress server at once, kept-alive connections included."""
    server.close()
    # waitress keeps serving kept-alive connections after close(); a dead center would not.
    for channel in list(server._map.values()):
        channel.close()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the test server did not stop"


@contextlib.contextmanager
def serving(app: Any, threads: int = 4, **options: Any) -> Iterator[str]:
    """Yields the base URL while the app is served."""
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, **options)
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop_server(server, thread)
