"""Running a waitress server in the foreground of a service process until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Protocol


class Runnable(Protocol):
    def run(self) -> None: ...

    def close(self) -> None: ...


def _terminate(signum: int, frame: FrameType | None) -> None:
    # waitress ends its loop, and lets requests under way finish for a few seconds, on SystemExit raised in
    # the loop's thread. Closing only the listener would leave every kept-alive connection served (a
    # browser tab holds one for minutes), so the service would not stop until killed.
    raise SystemExit(0)


def serve_until_terminated(server: Runnable) -> None:
    """Serves until SIGTERM or Ctrl-C; the caller's clean-up runs after it returns."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
