"""Center configuration: a strict schema; secrets come from environment variables, never the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from storage.config_file import ConfigError, ConfigPath, StrictSection, TimeZoneName, load_toml_model

ENV_SECRET_KEY = "CENTER_SECRET_KEY"
ENV_DATABASE_URL = "CENTER_DATABASE_URL"
ENV_S3_ACCESS_KEY = "CENTER_S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "CENTER_S3_SECRET_KEY"
ENV_AUDIT_KEY = "CENTER_AUDIT_KEY"
ENV_DATA_KEY = "CENTER_DATA_KEY"
# The key the core banking system signs its sales-ledger uploads with (POST /api/ledger/v1/imports).
ENV_LEDGER_API_SECRET = "CENTER_LEDGER_API_SECRET"


class ServerSection(StrictSection):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    data_dir: ConfigPath = Path("var/center")
    timezone: TimeZoneName = "Asia/Shanghai"


class DatabaseSection(StrictSection):
    # Empty: SQLite in the data directory. A URL with a password belongs in CENTER_DATABASE_URL.
    url: str = ""


class StorageSection(StrictSection):
    mode: Literal["embedded", "external"] = "embedded"
    bucket: str = Field(default="evidence", pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$")
    endpoint_url: str = ""
    region: str = "us-east-1"
    s3_port: int = Field(default=0, ge=0, le=65535)
    part_size_mb: int = Field(default=16, ge=5, le=512)
    presign_expiry_s: int = Field(default=900, ge=60, le=86400)
    # Every object version the store receives is locked this long before the archive sets its own
    # retention; 0 leaves the bucket's default retention to whoever manages the bucket.
    default_lock_days: int = Field(default=365, ge=0, le=36500)
    # A clip claiming to be older than this when it reaches the center is flagged, and its retention
    # counts from no earlier than that many days before its arrival (a branch clock set back).
    max_clip_age_days: int = Field(default=30, ge=1, le=3650)

    @model_validator(mode="after")
    def _external_needs_url(self) -> StorageSection:
        if self.mode == "external" and not self.endpoint_url:
            raise ValueError("storage.endpoint_url is required when storage.mode is 'external'")
        return self


class SecuritySection(StrictSection):
    request_window_s: int = Field(default=300, ge=30, le=3600)
    session_idle_minutes: int = Field(default=30, ge=1, le=480)
    lockout_failures: int = Field(default=5, ge=1, le=20)
    lockout_minutes: int = Field(default=15, ge=1, le=1440)
    # The session cookie only over HTTPS: false for the embedded demo over http, true in production.
    secure_cookies: bool = False
    # Failed sign-ins counted per window from one address for one user name, and from one address for
    # all names; beyond either the address gets 429 until the window ends (one audit line per burst).
    login_window_s: int = Field(default=300, ge=10, le=86_400)
    login_failures_per_account: int = Field(default=10, ge=1, le=1000)
    login_failures_per_address: int = Field(default=50, ge=1, le=100_000)
    # Evidence exports and upload completions (each reads a whole clip) at once; more get 503 with Retry-After.
    max_concurrent_exports: int = Field(default=2, ge=1, le=64)
    max_concurrent_completions: int = Field(default=2, ge=1, le=64)


class ExpirySection(StrictSection):
    enabled: bool = True
    run_at: str = Field(default="02:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # HH:MM in server.timezone
    batch_size: int = Field(default=1000, ge=1, le=1000)


class AuditSection(StrictSection):
    # How often the trail's count and head hash are anchored in the store as a locked checkpoint: the
    # most an attacker with database access could cut from the end of the trail undetected.
    checkpoint_interval_minutes: int = Field(default=10, ge=1, le=1440)
    checkpoint_retention_years: int = Field(default=30, ge=1, le=100)
    # Where in the evidence bucket this archive's checkpoints live (one archive per prefix).
    checkpoint_prefix: str = Field(default="audit-checkpoints/", pattern=r"^[a-z0-9][a-z0-9._/-]{0,200}/$")


class ScrubSection(StrictSection):
    # The store compared with the catalogue: each run checks the next clips for presence and size,
    # re-hashes a few picked at random and lists the next page of stored keys for unknown objects.
    enabled: bool = True
    interval_minutes: int = Field(default=60, ge=5, le=10080)
    check_count: int = Field(default=500, ge=1, le=100_000)
    hash_count: int = Field(default=5, ge=0, le=1000)
    list_count: int = Field(default=1000, ge=0, le=100_000)


class ReplaySection(StrictSection):
    # Replay reads the archive by range: at most this many store reads at once (the rest wait up to
    # slot_wait_ms, then get 503 with Retry-After), each answering at most max_response_mb.
    max_concurrent_reads: int = Field(default=6, ge=1, le=256)
    max_response_mb: int = Field(default=4, ge=1, le=64)
    slot_wait_ms: int = Field(default=1000, ge=0, le=30_000)


class ReconciliationSection(StrictSection):
    # Sales against recordings, nightly after the branches' upload window (07:00 by default), for the
    # last `days_back` days so late uploads and late ledger imports are picked up; one runner at a time.
    enabled: bool = True
    run_at: str = Field(default="07:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # HH:MM in server.timezone
    days_back: int = Field(default=3, ge=1, le=31)
    # A recording matched by customer, product and time must start within this of the sale's time.
    match_window_minutes: int = Field(default=30, ge=1, le=1440)
    # A recording starting later than this after the sale's time is "recorded late".
    late_after_minutes: int = Field(default=30, ge=0, le=10080)


class RetentionSection(StrictSection):
    # The regulator's floor: no year count of any business type's retention rule (after maturity,
    # purchase, redemption, dispute) may be lower. Types already below it are reported at start-up.
    minimum_years: int = Field(default=2, ge=1, le=100)


class ApprovalsSection(StrictSection):
    # Four eyes: a retention rule, a branch's signing key, the password or the role of a compliance
    # officer or system admin change only when a second system admin approves; unapproved proposals
    # lapse after this many hours.
    expire_hours: int = Field(default=72, ge=1, le=720)


class WebhookSection(StrictSection):
    # Alerts are POSTed as JSON to `url`, signed with HMAC-SHA256 under the key in the environment
    # variable `secret_env` (X-DR-Signature over "<X-DR-Timestamp>.<body>"); `kinds` empty: every kind.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")
    kinds: list[str] = Field(default_factory=list)


class AlertsSection(StrictSection):
    # Debounce: a condition is raised only once it was seen this many times in a row (heartbeats or
    # sweeps a minute apart), and cleared once it was absent this many times in a row.
    raise_after: int = Field(default=2, ge=1, le=100)
    clear_after: int = Field(default=2, ge=1, le=100)
    sweep_interval_s: int = Field(default=60, ge=10, le=3600)
    # A branch whose oldest clip not yet verified at the center is older than this has an upload backlog.
    backlog_max_age_hours: int = Field(default=36, ge=1, le=24 * 30)
    # Webhook delivery: alerts due for a webhook go in one POST (at most `group_max`); a failed POST is
    # tried again after retry_initial_s, doubling up to retry_max_s, `max_attempts` times in all.
    group_max: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_initial_s: int = Field(default=30, ge=1, le=3600)
    retry_max_s: int = Field(default=3600, ge=1, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhooks: list[WebhookSection] = Field(default_factory=list, max_length=16)


class QualitySection(StrictSection):
    # The media analysis of archived clips (faces, voices, picture, sound and picture in step): each
    # run takes up to max_clips_per_run clips without a report, one runner at a time, at this CPU
    # niceness (19: only time nothing else wants). An analysis that fails is tried again after
    # retry_after_minutes, at most max_attempts times in all; the clip stays unchecked meanwhile.
    enabled: bool = True
    interval_minutes: int = Field(default=10, ge=1, le=1440)
    max_clips_per_run: int = Field(default=5, ge=1, le=1000)
    niceness: int = Field(default=19, ge=0, le=19)
    timeout_minutes: int = Field(default=60, ge=1, le=1440)
    max_attempts: int = Field(default=3, ge=1, le=100)
    retry_after_minutes: int = Field(default=60, ge=0, le=10080)


class CenterConfig(StrictSection):
    server: ServerSection = ServerSection()
    database: DatabaseSection = DatabaseSection()
    storage: StorageSection = StorageSection()
    security: SecuritySection = SecuritySection()
    expiry: ExpirySection = ExpirySection()
    audit: AuditSection = AuditSection()
    scrub: ScrubSection = ScrubSection()
    replay: ReplaySection = ReplaySection()
    reconciliation: ReconciliationSection = ReconciliationSection()
    retention: RetentionSection = RetentionSection()
    approvals: ApprovalsSection = ApprovalsSection()
    alerts: AlertsSection = AlertsSection()
    quality: QualitySection = QualitySection()

    def database_url(self) -> str:
        from_env = os.environ.get(ENV_DATABASE_URL, "")
        if from_env:
            return from_env
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.server.data_dir / 'center.db'}"

    def secret_key(self) -> str:
        """The session-signing key: from the environment, else generated once into the data directory."""
        return self._env_or_generated(ENV_SECRET_KEY, "session.key")

    def audit_key(self) -> bytes:
        """The key of the audit checkpoints' HMAC: from the environment in production, else generated once."""
        return self._env_or_generated(ENV_AUDIT_KEY, "audit.key").encode("utf-8")

    def data_key(self) -> bytes:
        """The key that seals secrets the center keeps in its database (branch API secrets)."""
        return self._env_or_generated(ENV_DATA_KEY, "data.key").encode("utf-8")

    def session_info(self) -> dict[str, object]:
        """What every database session of this center carries: the key for sealed columns."""
        from center_platform.db.sealed_secrets import INFO_KEY

        return {INFO_KEY: self.data_key()}

    def _env_or_generated(self, env_name: str, file_name: str) -> str:
        from_env = os.environ.get(env_name, "")
        if from_env:
            return from_env
        import secrets

        path = self.server.data_dir / file_name
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.server.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
        return value

    def external_s3_credentials(self) -> tuple[str, str]:
        access = os.environ.get(ENV_S3_ACCESS_KEY, "")
        secret = os.environ.get(ENV_S3_SECRET_KEY, "")
        if not access or not secret:
            raise ConfigError(
                f"storage.mode is 'external': set {ENV_S3_ACCESS_KEY} and {ENV_S3_SECRET_KEY} in the environment"
            )
        return access, secret


def load_center_config(path: Path | None) -> CenterConfig:
    if path is None:
        return CenterConfig()
    return load_toml_model(path, CenterConfig)
