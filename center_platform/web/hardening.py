"""What the center does for every answer and against overload: the security headers, the sign-in
throttle, and bounds on the work a request does synchronously (evidence exports, upload completions),
beyond which the caller is told 503 and when to come back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Final, ParamSpec

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from center_platform.config import SecuritySection
from center_platform.web.login_throttle import LoginThrottle
from storage.web_headers import add_security_headers

P = ParamSpec("P")

EXPORT_SLOTS: Final = "export_slots"
COMPLETION_SLOTS: Final = "completion_slots"
LOGIN_THROTTLE: Final = "login_throttle"


class Slots:
    """At most `size` holders at once; a caller that finds none free is not made to wait."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    def try_take(self) -> bool:
        return self._free.acquire(blocking=False)

    def give_back(self) -> None:
        self._free.release()


def install(app: Flask, security: SecuritySection) -> None:
    app.after_request(add_security_headers)
    app.extensions[LOGIN_THROTTLE] = LoginThrottle(security)
    app.extensions[EXPORT_SLOTS] = Slots(security.max_concurrent_exports)
    app.extensions[COMPLETION_SLOTS] = Slots(security.max_concurrent_completions)


def login_throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions[LOGIN_THROTTLE]
    return throttle


def busy(message: str, retry_after_s: int) -> ResponseReturnValue:
    resp = jsonify(error=message)
    resp.status_code = 503
    resp.headers["Retry-After"] = str(retry_after_s)
    return resp


def bounded(
    slots_name: str, message: str, retry_after_s: int
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """The view runs only with one of the app's `slots_name` slots held; when none is free: 503 at once."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            slots: Slots = current_app.extensions[slots_name]
            if not slots.try_take():
                return busy(message, retry_after_s)
            try:
                return view(*args, **kwargs)
            finally:
                slots.give_back()

        return wrapper

    return decorate
