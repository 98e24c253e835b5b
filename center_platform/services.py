"""What the center's request handlers and jobs share, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from center_platform.archive.replay import ReplayService
from center_platform.config import CenterConfig
from center_platform.ingest.service import IngestService
from storage.object_store import ObjectStore


@dataclass
class CenterServices:
    config: CenterConfig
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    ingest: IngestService
    display_tz: ZoneInfo
    replay: ReplayService
