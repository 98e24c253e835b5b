"""The agent's one GB/T 28181 platform, on its own asyncio loop thread, shared by every counter.

Camera sources, the status API and the heartbeat live in ordinary threads; they reach the
platform through ``GbPlatformRunner``: ``call`` runs a coroutine on the platform's loop and waits
for it, ``snapshot`` reads the device table. The SIP server starts when the first camera source
needs it (``ensure_started``; a port already in use is an error the camera shows and retries)
and stops when the last one releases it. Each device is asked for its Catalog when it registers,
so the status page and the heartbeat list its channels.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from branch_agent.gb28181.devices import DeviceRecord, DeviceTable, GbPlatformConfig
from branch_agent.gb28181.platform import GbPlatform, PlatformSnapshot
from branch_agent.gb28181.queries import CatalogIncomplete, DeviceInfo
from storage.contract.heartbeat import (
    MAX_GB_ITEMS,
    GbChannelReport,
    GbDeviceReport,
    GbPlatformReport,
    GbSessionReport,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_START_TIMEOUT_S = 10.0
CATALOG_TIMEOUT_S = 10.0


class GbPlatformUnavailable(RuntimeError):
    """The SIP server is not running (not started, stopped, or it could not bind its port)."""


async def query_catalogs(
    platform: GbPlatform,
    timeout_s: float = CATALOG_TIMEOUT_S,
    on_info: Callable[[str, DeviceInfo], None] | None = None,
) -> None:
    """Ask every device for its Catalog once per registration, so its channels can be listed, and
    (with `on_info`) for its DeviceInfo: manufacturer, model and firmware for the center's device view.
    Runs until cancelled; a device that does not answer is logged, and asked again when it next
    registers."""
    asked: dict[str, float] = {}
    running: set[asyncio.Task[None]] = set()

    def pending(table: DeviceTable) -> list[DeviceRecord]:
        return [d for d in table.snapshot() if d.online and asked.get(d.device_id) != d.registered_at]

    async def ask(device_id: str) -> None:
        try:
            channels = await platform.query_catalog(device_id, timeout_s)
            log.info("GB/T 28181 device %s has %d channel(s)", device_id, len(channels))
        except CatalogIncomplete as exc:
            log.warning("GB/T 28181 device %s: %s", device_id, exc)
        except Exception as exc:
            log.warning("GB/T 28181 device %s: Catalog query failed: %s", device_id, exc)
        if on_info is None:
            return
        try:
            on_info(device_id, await platform.query_device_info(device_id, timeout_s))
        except Exception as exc:  # many cameras answer no DeviceInfo: the device is listed without it
            log.info("GB/T 28181 device %s: DeviceInfo query failed: %s", device_id, exc)

    try:
        while True:
            try:
                await platform.wait_for(lambda table: bool(pending(table)), 3600)
            except TimeoutError:
                continue
            for record in pending(platform.devices):
                asked[record.device_id] = record.registered_at
                task = asyncio.get_running_loop().create_task(ask(record.device_id))
                running.add(task)
                task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()


class GbPlatformRunner:
    def __init__(self, config: GbPlatformConfig, announce_host: str | None = None, query_catalog: bool = True) -> None:
        self.config = config
        self.announce_host = announce_host or None
        self.query_catalog = query_catalog
        self._catalog_task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._users = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._platform: GbPlatform | None = None
        self.error = ""
        # Each device's answer to DeviceInfo, by device id (written on the platform's loop, read anywhere).
        self.device_info: dict[str, DeviceInfo] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
        self.stop()

    @property
    def platform(self) -> GbPlatform | None:
        return self._platform

    def ensure_started(self) -> GbPlatform:
        """The running platform, started now if it is not; GbPlatformUnavailable if it cannot start."""
        with self._lock:
            if self._platform is not None:
                return self._platform
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="gb-platform", daemon=True)
            thread.start()
            config, announce = self.config, self.announce_host

            async def create() -> GbPlatform:
                # Built on its loop: its conditions and transactions belong to that loop.
                platform = GbPlatform(config, sip_host=announce)
                await platform.start()
                if self.query_catalog:
                    self._catalog_task = asyncio.get_running_loop().create_task(
                        query_catalogs(platform, on_info=self.device_info.__setitem__)
                    )
                return platform

            try:
                platform = asyncio.run_coroutine_threadsafe(create(), loop).result(_START_TIMEOUT_S)
            except BaseException as exc:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(5)
                loop.close()
                self.error = (
                    f"GB/T 28181 SIP server on {config.host}:{config.port} did not start: {exc or type(exc).__name__}"
                )
                raise GbPlatformUnavailable(self.error) from exc
            self.error = ""
            self._loop, self._thread, self._platform = loop, thread, platform
            log.info(
                "GB/T 28181 platform %s listening on %s:%d (%s)",
                config.server_id,
                config.host,
                platform.port,
                "+".join(config.transports),
            )
            return platform

    def stop(self) -> None:
        with self._lock:
            loop, thread, platform = self._loop, self._thread, self._platform
            self._loop = self._thread = self._platform = None
        if loop is None or thread is None or platform is None:
            return
        catalog, self._catalog_task = self._catalog_task, None

        async def halt() -> None:
            if catalog is not None:
                catalog.cancel()
            await platform.stop()

        try:
            asyncio.run_coroutine_threadsafe(halt(), loop).result(5)
        except Exception:
            log.exception("GB/T 28181 platform did not stop cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()

    # -- use from other threads ----------------------------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float, stop: threading.Event | None = None) -> T:
        """Run ``coro`` on the platform's loop and wait for its result; ``stop`` cancels the wait."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise GbPlatformUnavailable("the GB/T 28181 platform is not running")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no result within {timeout_s:g} s")
                try:
                    return future.result(min(remaining, 0.1))
                except concurrent.futures.TimeoutError:
                    if stop is not None and stop.is_set():
                        raise GbPlatformUnavailable("stopped") from None
        finally:
            if not future.done():
                future.cancel()

    def snapshot(self) -> PlatformSnapshot | None:
        """Devices, channels and sessions now; None while the SIP server is not running."""
        platform = self._platform
        if platform is None:
            return None

        async def take() -> PlatformSnapshot:
            return platform.snapshot()

        try:
            return self.call(take(), 2.0)
        except (GbPlatformUnavailable, TimeoutError):
            return None


def _info(runner: GbPlatformRunner, device_id: str) -> DeviceInfo:
    return runner.device_info.get(device_id) or DeviceInfo(device_id)


def platform_report(runner: GbPlatformRunner | None) -> GbPlatformReport | None:
    """Devices, their channels and the live sessions, for the status API and the heartbeat."""
    if runner is None:
        return None
    snap = runner.snapshot()
    if snap is None:
        return GbPlatformReport(server_id=runner.config.server_id, running=False, error=runner.error[:2000])
    now = time.monotonic()  # the registrar's clock: DeviceRecord times are on it
    devices = [
        GbDeviceReport(
            device_id=d.device_id[:32],
            online=d.online,
            transport=d.transport.value,
            address=f"{d.address[0]}:{d.address[1]}"[:64],
            user_agent=d.user_agent[:200],
            offline_reason=d.offline_reason[:200],
            last_seen_age_s=round(max(0.0, now - d.last_seen), 1),
            manufacturer=_info(runner, d.device_id).manufacturer[:200],
            model=_info(runner, d.device_id).model[:200],
            firmware=_info(runner, d.device_id).firmware[:200],
            channels=[
                GbChannelReport(channel_id=c.channel_id[:32], name=c.name[:200], status=c.status[:32])
                for c in d.channels[:MAX_GB_ITEMS]
            ],
        )
        for d in snap.devices[:MAX_GB_ITEMS]
    ]
    sessions = [
        GbSessionReport(
            device_id=s.device_id,
            channel_id=s.channel_id,
            transport=s.transport.value,
            ssrc=s.ssrc,
            local_port=s.local_port,
            remote=f"{s.remote_host}:{s.remote_port}"[:64],
            started_at=datetime.fromtimestamp(s.started_at, UTC),
        )
        for s in snap.sessions[:MAX_GB_ITEMS]
    ]
    return GbPlatformReport(server_id=snap.server_id, running=True, devices=devices, sessions=sessions)
