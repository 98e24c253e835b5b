"""Central configuration at the branch: pulled with its ETag, judged by the configuration file's own
rules, applied without a restart, and reported back to the center.

The file stays the bootstrap: the center's settings are laid over it and the result must pass exactly
the validation a file would (`BranchConfig`, the source registry), and the changed counters' sources
must build (a camera's secret named in `password_env` must be set here). A version that fails is
refused with the reason, which the center shows; what ran before keeps running. The upload window,
bandwidth cap and recording limits take effect at once; a counter's new sources replace the old ones
between takes, never during one (the counter is retried on every sync until its take has ended).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from branch_agent.center_link.client import CenterRefused, CenterUnavailable
from branch_agent.config import BranchConfig, CounterSection
from branch_agent.counter.sources import CounterSources, build_sources
from branch_agent.db.central_config_models import CentralConfigState
from branch_agent.sources.kinds.section_fields import NetworkCameraSection
from storage.config_file import ConfigError, describe_validation_error
from storage.contract import routes
from storage.contract.central_config import SOURCE_ROLES, CentralConfig, CentralConfigReport
from storage.database import utcnow

if TYPE_CHECKING:
    from branch_agent.services import BranchServices

log = logging.getLogger(__name__)
SOURCE = "中心配置 central configuration"


class CentralConfigRefused(ValueError):
    """The center's configuration fails the branch's rules; the message is what the center is told."""


def merged_config(base: BranchConfig, central: CentralConfig) -> BranchConfig:
    """The file's configuration with the center's settings laid over it, judged as a file would be."""
    if not central.sets_anything():
        return base
    data: dict[str, Any] = base.model_dump(mode="python")
    data["upload"].update(central.upload.model_dump(exclude_none=True))
    data["spool"].update(central.limits.model_dump(exclude_none=True))
    counters = {c["code"]: c for c in data["counters"]}
    for c in central.counters:
        if c.code not in counters:
            raise CentralConfigRefused(
                f"{SOURCE}: 柜台 {c.code} 不在本网点配置文件中 / counter {c.code} is not in this branch's file"
            )
        for role, section in c.sources().items():
            counters[c.code][role] = dict(section)
    try:
        return BranchConfig.model_validate(data)
    except ValidationError as exc:
        raise CentralConfigRefused(describe_validation_error(SOURCE, exc).replace("Value error, ", "")) from exc


def _sources_of(counter: CounterSection) -> list[dict[str, Any]]:
    return [getattr(counter, role).model_dump(mode="json") for role in SOURCE_ROLES]


def changed_counters(running: BranchConfig, new: BranchConfig) -> list[str]:
    return [c.code for c in new.counters if _sources_of(c) != _sources_of(running.counter(c.code))]


def _state(db: Session) -> CentralConfigState:
    row = db.execute(select(CentralConfigState)).scalar_one_or_none()
    if row is None:
        row = CentralConfigState(
            applied_version=0, applied_json="{}", seen_version=0, state="applied", reason="", waiting_json="[]"
        )
        db.add(row)
    return row


def _applied_document(row: CentralConfigState) -> CentralConfig:
    return CentralConfig.model_validate({**json.loads(row.applied_json), "version": row.applied_version})


def effective_config(file_config: BranchConfig, sessions: sessionmaker[Session]) -> BranchConfig:
    """At start-up: the file with the central version last applied, unless that no longer passes."""
    with sessions() as db:
        row = db.execute(select(CentralConfigState)).scalar_one_or_none()
        if row is None or row.applied_version == 0:
            return file_config
        document = _applied_document(row)
    try:
        return merged_config(file_config, document)
    except CentralConfigRefused as exc:
        log.error("central configuration version %d no longer applies, running the file: %s", document.version, exc)
        return file_config


@dataclass(frozen=True)
class CentralConfigStatus:
    """For the branch admin page and tests."""

    applied_version: int
    seen_version: int
    state: str
    reason: str
    waiting_counters: list[str]
    reported: bool


def central_config_status(sessions: sessionmaker[Session]) -> CentralConfigStatus:
    with sessions() as db:
        row = _state(db)
        return CentralConfigStatus(
            row.applied_version or 0,
            row.seen_version or 0,
            row.state or "applied",
            row.reason or "",
            json.loads(row.waiting_json or "[]"),
            bool(row.reported),
        )


class CentralConfigApplier:
    """One per agent. `file_config` is the file as loaded: every version is laid over it afresh."""

    def __init__(self, svc: BranchServices, file_config: BranchConfig) -> None:
        self.svc = svc
        self.file_config = file_config
        # The first pull of a process is unconditional: a version refused before (a secret not yet set
        # here, say) is judged again after the restart that usually follows fixing it.
        self._pulled_once = False
        # Start-up and the scheduler both sync: one judge at a time, or a counter's sources could be replaced twice.
        self._lock = threading.Lock()

    def run(self) -> CentralConfigStatus:
        with self._lock:
            self._run()
        return central_config_status(self.svc.sessions)

    def _run(self) -> None:
        try:
            etag = None
            if self._pulled_once:
                with self.svc.sessions() as db:
                    etag = _state(db).etag
            reply = self.svc.client.fetch_versioned(routes.CENTRAL_CONFIG, etag)
            self._pulled_once = True
        except CenterRefused as exc:
            if exc.status != 404:  # 404: a center that predates central configuration
                log.warning("central configuration not pulled: %s", exc)
            reply = None
        except CenterUnavailable as exc:
            log.warning("central configuration not pulled, the running one stays: %s", exc)
            reply = None
        if reply is not None:
            try:
                central = CentralConfig.model_validate(reply.payload)
            except ValidationError as exc:
                self._refuse(reply.etag, _version_of(reply.payload), describe_validation_error(SOURCE, exc))
            else:
                self.apply(central, reply.etag)
        self._retry_waiting()
        self._report()

    def apply(self, central: CentralConfig, etag: str | None) -> None:
        svc = self.svc
        try:
            new = merged_config(self.file_config, central)
            changed = changed_counters(svc.config, new)
            built = {code: self._build(new, code) for code in changed}
        except CentralConfigRefused as exc:
            self._refuse(etag, central.version, str(exc))
            return
        svc.config = new
        svc.uploader.bandwidth_mbit = new.upload.bandwidth_mbit
        svc.disk_guard.limits = new.spool
        waiting = [code for code, sources in built.items() if not self._replace(code, sources)]
        with svc.sessions() as db:
            row = _state(db)
            row.applied_version = row.seen_version = central.version
            row.applied_json = json.dumps(central.model_dump(mode="json", exclude={"version"}), ensure_ascii=False)
            row.applied_at = row.pulled_at = utcnow()
            row.etag = etag
            row.state = "waiting" if waiting else "applied"
            row.reason = ""
            row.waiting_json = json.dumps(waiting)
            row.reported = False
            db.commit()
        log.info("central configuration version %d applied (cameras changed: %s)", central.version, changed or "none")

    def _build(self, config: BranchConfig, code: str) -> CounterSources:
        counter = config.counter(code)
        try:
            for role in SOURCE_ROLES:
                section = getattr(counter, role)
                if isinstance(section, NetworkCameraSection):
                    # Sources read their secret when they connect: a missing one is caught here instead.
                    section.password(f"the {role} camera of counter {code}")
            return build_sources(config, counter, self.svc.gb28181)
        except (ConfigError, ValueError) as exc:
            raise CentralConfigRefused(f"{SOURCE}: 柜台 {code} 的设备无法创建 / counter {code}: {exc}") from exc

    def _replace(self, code: str, sources: CounterSources) -> bool:
        """The counter's new sources, if it is between takes."""
        session = self.svc.counters.get(code)
        if session is None:
            return True
        if not session.replace_sources(self.svc.config.counter(code), sources):
            log.info("counter %s is recording: its new cameras wait until the take ends", code)
            return False
        self.svc.sources[code] = sources
        log.info("counter %s now runs its centrally configured sources", code)
        return True

    def _retry_waiting(self) -> None:
        with self.svc.sessions() as db:
            waiting = json.loads(_state(db).waiting_json or "[]")
        if not waiting:
            return
        still = []
        for code in waiting:
            try:
                done = self._replace(code, self._build(self.svc.config, code))
            except CentralConfigRefused as exc:
                log.error("%s", exc)
                done = False
            if not done:
                still.append(code)
        with self.svc.sessions() as db:
            row = _state(db)
            row.waiting_json = json.dumps(still)
            if not still:
                row.state = "applied"
                row.reported = False
            db.commit()

    def _refuse(self, etag: str | None, version: int, reason: str) -> None:
        with self.svc.sessions() as db:
            row = _state(db)
            log.error(
                "central configuration version %d refused, %d keeps running: %s",
                version,
                row.applied_version or 0,
                reason,
            )
            row.seen_version = version
            row.etag = etag
            row.state = "refused"
            row.reason = reason[:4000]
            row.pulled_at = utcnow()
            row.reported = False
            db.commit()

    def _report(self) -> None:
        with self.svc.sessions() as db:
            row = _state(db)
            if row.reported or ((row.seen_version or 0) == 0 and (row.applied_version or 0) == 0):
                return
            report = CentralConfigReport(
                version=row.seen_version,
                state="refused" if row.state == "refused" else ("waiting" if row.state == "waiting" else "applied"),
                applied_version=row.applied_version,
                reason=row.reason,
                waiting_counters=json.loads(row.waiting_json or "[]"),
            )
        try:
            self.svc.client.report_central_config(report)
        except (CenterUnavailable, CenterRefused) as exc:
            log.warning("central configuration report not delivered (sent again at the next sync): %s", exc)
            return
        with self.svc.sessions() as db:
            row = _state(db)
            if (row.seen_version, row.state, row.reason) == (report.version, report.state, report.reason):
                row.reported = True
                db.commit()


def _version_of(payload: dict[str, object]) -> int:
    version = payload.get("version")
    return version if isinstance(version, int) and version >= 0 else 0
