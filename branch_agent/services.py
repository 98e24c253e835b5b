"""What the branch agent's request handlers and jobs share, built once at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.central_config import CentralConfigApplier, effective_config
from branch_agent.center_link.client import CenterClient
from branch_agent.center_link.heartbeat import HeartbeatStatus
from branch_agent.center_link.sync import CenterSync, SyncOutcome
from branch_agent.config import BranchConfig
from branch_agent.counter.quality_worker import ClipQualityWorker
from branch_agent.counter.session import CounterSession
from branch_agent.counter.sources import CounterSources, build_sources, gb_platform_runner
from branch_agent.db.engine import open_spool_db
from branch_agent.db.models import SyncedProduct
from branch_agent.diagnosis.live_check import LiveCheck, LiveCheckSettings
from branch_agent.gb28181.service import GbPlatformRunner, GbPlatformUnavailable
from branch_agent.spool.disk_guard import DiskGuard
from branch_agent.spool.recovery import recover_interrupted
from branch_agent.upload.uploader import Uploader
from storage.quality.policy import Role
from storage.signing import SigningKey

log = logging.getLogger(__name__)


@dataclass
class BranchServices:
    config: BranchConfig
    sessions: sessionmaker[Session]
    key: SigningKey
    client: CenterClient
    uploader: Uploader
    tz: ZoneInfo
    sync: CenterSync
    disk_guard: DiskGuard
    sources: dict[str, CounterSources] = field(default_factory=dict)
    counters: dict[str, CounterSession] = field(default_factory=dict)
    last_heartbeat: HeartbeatStatus | None = None
    # The GB/T 28181 SIP server every counter's GB camera shares; None without a [gb28181] section.
    gb28181: GbPlatformRunner | None = None
    # Live picture diagnosis of the cameras; None when the configuration turns it off.
    diagnosis: LiveCheck | None = None
    # Cameras, upload window and limits set at the center, laid over the file (None: not built yet).
    central: CentralConfigApplier | None = None
    # Checks each clip as soon as it is closed; None when the configuration turns the check off.
    quality: ClipQualityWorker | None = None

    def sync_from_center(self) -> list[SyncOutcome]:
        """Products, staff and branch settings from the center; kept locally so the counter works while the WAN is down."""
        outcomes = self.sync.run()
        if self.central is not None:
            self.central.run()
        return outcomes

    def products(self) -> list[SyncedProduct]:
        with self.sessions() as db:
            return list(db.execute(select(SyncedProduct).order_by(SyncedProduct.code)).scalars())

    def any_recording(self) -> bool:
        return any(session.active_clip for session in self.counters.values())

    def source_roles(self, counter_code: str) -> dict[str, Role]:
        """Which of a counter's sources is which: the names gaps are written under in a manifest."""
        sources = self.sources.get(counter_code)
        if sources is None:
            return {}
        return {
            sources.environment.name: "environment",
            sources.desk.name: "desk",
            sources.microphone.name: "microphone",
        }

    def close(self) -> None:
        if self.diagnosis is not None:
            self.diagnosis.stop()
        if self.quality is not None:
            self.quality.stop()
        for session in self.counters.values():
            if session.active_clip:
                # Leave the clip as it is: the fragments on disk are recovered as interrupted next start.
                log.warning("shutting down while counter %s records %s", session.counter.code, session.active_clip)
        for src in self.sources.values():
            src.close()
        if self.gb28181 is not None:
            self.gb28181.stop()


def build_services(config: BranchConfig, open_sources: bool = True) -> BranchServices:
    config.branch.data_dir.mkdir(parents=True, exist_ok=True)
    sessions = open_spool_db(config.database_url())
    file_config = config
    config = effective_config(file_config, sessions)
    key = SigningKey.load_or_create(config.key_path)
    client = CenterClient(
        config.center.url,
        config.branch.code,
        config.api_secret(),
        timeout_s=config.center.timeout_s,
        verify=config.center.tls_verify(),
    )
    svc = BranchServices(
        config=config,
        sessions=sessions,
        key=key,
        client=client,
        # The lock file keeps a CLI upload run and the agent's own runs from sending at once.
        uploader=Uploader(
            sessions, client, config.upload.bandwidth_mbit, lock_path=config.branch.data_dir / "upload.lock"
        ),
        tz=ZoneInfo(config.branch.timezone),
        sync=CenterSync(sessions, client),
        disk_guard=DiskGuard(config.spool, sessions, config.spool_dir),
    )
    svc.central = CentralConfigApplier(svc, file_config)
    recover_interrupted(sessions, config.branch.code, key)
    svc.gb28181 = gb_platform_runner(config)
    if svc.gb28181 is not None and open_sources:
        # Up from start-up, GB cameras or not: an installer sees devices register on the status page.
        svc.gb28181.acquire()
        try:
            svc.gb28181.ensure_started()
        except GbPlatformUnavailable as exc:
            log.error("%s (the GB/T 28181 cameras keep retrying)", exc)
    for counter in config.counters:
        sources = build_sources(config, counter, svc.gb28181)
        if open_sources:
            sources.open()
        svc.sources[counter.code] = sources
        svc.counters[counter.code] = CounterSession(config, counter, sessions, key, sources, disk_guard=svc.disk_guard)
    if config.quality.enabled:
        svc.quality = ClipQualityWorker(sessions, config.quality, svc.any_recording, svc.source_roles)
        for session in svc.counters.values():
            session.on_closed = svc.quality.submit
        if open_sources:
            svc.quality.start()
    if config.diagnosis.enabled:
        d = config.diagnosis
        settings = LiveCheckSettings(
            d.interval_minutes * 60, d.probe_s, snapshot_width=d.snapshot_width, niceness=d.niceness
        )
        # The sources are looked up at each run: central configuration may rebuild them.
        svc.diagnosis = LiveCheck(settings, config.branch.data_dir, lambda: svc.sources)
        if open_sources:
            svc.diagnosis.start()
    return svc
