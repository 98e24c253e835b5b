"""Branch agent configuration: a strict schema; the API secret comes from the environment, never the file."""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from branch_agent.sources.kinds.gb28181 import Gb28181CameraSection
from branch_agent.sources.kinds.section_fields import ENV_NAME, gb_id, secret_from_env
from branch_agent.sources.kinds.spec import CameraSection, MicrophoneSection, Role
from branch_agent.sources.registry import camera_kind_of, section_schema, sound_camera_kinds
from storage.config_file import ConfigError, ConfigPath, StrictSection, TimeZoneName, load_toml_model

if TYPE_CHECKING:
    from branch_agent.gb28181.devices import GbPlatformConfig

ENV_API_SECRET = "BRANCH_API_SECRET"
ENV_SECRET_KEY = "BRANCH_SECRET_KEY"


class BranchSection(StrictSection):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    timezone: TimeZoneName = "Asia/Shanghai"
    data_dir: ConfigPath = Path("var/branch")
    font_path: ConfigPath = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


class ServerSection(StrictSection):
    host: str = "127.0.0.1"
    port: int = Field(default=8710, ge=0, le=65535)


class CenterSection(StrictSection):
    # https:// in production. Plain http only to a loopback address (the embedded demo), unless
    # allow_plain_http says otherwise: over plain http the customer data in manifests and the center's
    # answers cross the network readable by anyone on the path.
    url: str = Field(default="http://127.0.0.1:8700", pattern=r"^https?://")
    allow_plain_http: bool = False
    # A CA file (PEM) to check the center's certificate against, when a private CA signed it;
    # empty: the system's trusted CAs.
    ca_file: ConfigPath | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Products, staff and branch settings are pulled this often (a 304 costs one small request).
    sync_interval_minutes: int = Field(default=5, ge=1, le=24 * 60)
    heartbeat_interval_s: int = Field(default=60, ge=10, le=3600)

    @model_validator(mode="after")
    def _tls_unless_loopback(self) -> CenterSection:
        if self.url.lower().startswith("http://") and not self.allow_plain_http and not _loopback(self.url):
            raise ValueError(
                f"中心地址 {self.url} 使用明文 HTTP 且不是本机回环地址,已拒绝;请改用 https:// / "
                "center.url uses plain http to a host that is not loopback: use https:// (TLS), or set "
                "allow_plain_http = true in [center] to accept sending evidence metadata unencrypted"
            )
        return self

    def tls_verify(self) -> bool | str:
        """What the HTTP client checks the center's certificate against."""
        return str(self.ca_file) if self.ca_file else True


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hhmm(value: str) -> time:
    if not re.fullmatch(r"[0-2][0-9]:[0-5][0-9]", value):
        raise ValueError(f"{value!r} is not a HH:MM time")
    return time.fromisoformat(value)


class UploadSection(StrictSection):
    window_start: str = "19:00"
    window_end: str = "07:00"
    bandwidth_mbit: float = Field(default=0.0, ge=0, description="0: no cap")

    @field_validator("window_start", "window_end")
    @classmethod
    def _time(cls, v: str) -> str:
        _hhmm(v)
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> UploadSection:
        # A window may wrap midnight (19:00-07:00); one that ends where it starts would never upload.
        if self.window_start == self.window_end:
            raise ValueError(
                f"上传时段为空:开始与结束同为 {self.window_start} / the upload window is empty: it starts and "
                f"ends at {self.window_start}"
            )
        return self


class SpoolSection(StrictSection):
    """What stays on the branch disk, and when the counter must stop recording for lack of space."""

    # A clip the center verified is kept this many days after it was recorded, for replay at the branch.
    keep_verified_days: int = Field(default=30, ge=1, le=3650)
    # Daily purge of verified clips past keep_verified_days, branch time.
    purge_at: str = "03:30"
    # Below either limit a new recording is refused and the center is alerted; 0 turns a limit off.
    min_free_gb: float = Field(default=20.0, ge=0)
    min_days_left: float = Field(default=0.0, ge=0)

    @field_validator("purge_at")
    @classmethod
    def _time(cls, v: str) -> str:
        _hhmm(v)
        return v


class Gb28181Section(StrictSection):
    """The GB/T 28181 platform (SIP server) the branch's GB cameras register to: one per agent."""

    server_id: str = Field(description="this platform's 20-digit SIP ID (type code 200-299)")
    domain: str = Field(description="10-digit SIP domain (usually the first 10 digits of server_id)")
    host: str = Field(
        default="0.0.0.0",
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9.:\[\]-]+$",
        description="address SIP and media are received on",
    )
    port: int = Field(default=5060, ge=0, le=65535)
    transports: list[Literal["udp", "tcp"]] = Field(default=["udp", "tcp"], min_length=1, max_length=2)
    # What cameras are told to reach us at (SIP Via/Contact, SDP c=); needed when host is a wildcard.
    announce_host: str = Field(default="", max_length=253, pattern=r"^([A-Za-z0-9.:\[\]-]+)?$")
    # The access password most deployments give every camera, and per-device exceptions: both are
    # names of environment variables, never the passwords.
    password_env: str = Field(default="", pattern=ENV_NAME)
    device_password_envs: dict[str, str] = Field(default_factory=dict)
    keepalive_interval_s: float = Field(default=60.0, gt=0, le=3600)
    keepalive_misses: int = Field(default=3, ge=1, le=100)
    # Ask each device for its channel list when it registers (shown in the status and heartbeat).
    query_catalog: bool = True

    @field_validator("server_id")
    @classmethod
    def _server_id(cls, v: str) -> str:
        from branch_agent.gb28181.gb_ids import parse_gb_id

        server = parse_gb_id(v, "server ID")
        if not server.is_platform:
            raise ValueError(f"server ID {v} has type code {server.type_code}; a platform's is 200-299")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        from branch_agent.gb28181.gb_ids import parse_domain

        return parse_domain(v, "SIP domain")

    @field_validator("device_password_envs")
    @classmethod
    def _device_passwords(cls, v: dict[str, str]) -> dict[str, str]:
        for device_id, variable in v.items():
            gb_id(device_id, "device ID")
            if not re.fullmatch(ENV_NAME, variable) or not variable:
                raise ValueError(f"{variable!r} (for device {device_id}) is not an environment variable name")
        return v

    @model_validator(mode="after")
    def _some_password(self) -> Gb28181Section:
        if not self.password_env and not self.device_password_envs:
            raise ValueError("set password_env or device_password_envs: a camera without a password cannot register")
        return self

    def platform_config(self) -> GbPlatformConfig:
        """The platform's settings with the passwords read from the environment (ConfigError if unset)."""
        from branch_agent.gb28181.devices import GbPlatformConfig

        passwords = {d: secret_from_env(v, f"GB/T 28181 device {d}") for d, v in self.device_password_envs.items()}
        default = secret_from_env(self.password_env, "the GB/T 28181 cameras") if self.password_env else None
        return GbPlatformConfig(
            server_id=self.server_id,
            domain=self.domain,
            host=self.host,
            port=self.port,
            transports=tuple(dict.fromkeys(self.transports)),
            passwords=passwords,
            default_password=default,
            keepalive_interval_s=self.keepalive_interval_s,
            keepalive_misses=self.keepalive_misses,
        )


def _one_of(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class LayoutSection(StrictSection):
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "bottom-right"
    inset_width: int = Field(default=480, ge=64, le=960)
    inset_height: int = Field(default=384, ge=64, le=768)
    overlay_position: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-left"


class CounterSection(StrictSection):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    # Which kinds each role takes, and what each kind's section holds, is the source registry's.
    environment: Annotated[CameraSection, section_schema(Role.ENVIRONMENT)]
    desk: Annotated[CameraSection, section_schema(Role.DESK)]
    microphone: Annotated[MicrophoneSection, section_schema(Role.MICROPHONE)]
    layout: LayoutSection = LayoutSection()

    def camera(self, role: Role) -> CameraSection:
        if role is Role.ENVIRONMENT:
            return self.environment
        if role is Role.DESK:
            return self.desk
        raise ValueError(f"{role} is not a camera role")

    @model_validator(mode="after")
    def _camera_has_sound(self) -> CounterSection:
        role = self.microphone.camera_sound()
        if role is None:
            return self
        camera = self.camera(role)
        if not camera_kind_of(camera).carries_sound:
            with_sound = sound_camera_kinds(role)
            instead = f"a {role} camera of kind {_one_of(with_sound)} or " if with_sound else ""
            raise ValueError(
                f"microphone kind {self.microphone.kind!r} takes the sound of the {role} camera, "
                f"but a {camera.kind} camera has no sound; use {instead}another microphone kind"
            )
        return self


class RecorderSection(StrictSection):
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    bitrate_kbit: int = Field(default=4000, ge=250, le=20000)
    gop_seconds: float = Field(default=1.0, gt=0, le=10)
    audio_bitrate_kbit: int = Field(default=128, ge=32, le=320)


class QualitySection(StrictSection):
    """The compliance quality check the branch runs on each clip as soon as it is closed."""

    enabled: bool = True
    # The check runs beside the recorder: lowest priority, one thread, held still while any counter records.
    niceness: int = Field(default=19, ge=0, le=19)
    pause_while_recording: bool = True
    # Of the check's own running time (not counting the pauses), per minute of clip.
    max_seconds_per_clip_minute: float = Field(default=60.0, gt=0, le=600)


class DiagnosisSection(StrictSection):
    """Live picture diagnosis of the cameras: one frame per camera every `interval_minutes`, and on demand."""

    enabled: bool = True
    interval_minutes: float = Field(default=5.0, ge=0.5, le=24 * 60)
    # The second look, this long after the first, that tells a frozen picture from a live one.
    probe_s: float = Field(default=1.0, gt=0, le=10)
    snapshot_width: int = Field(default=320, ge=64, le=640)
    # Beside the recorder: its own thread at this CPU niceness.
    niceness: int = Field(default=19, ge=0, le=19)


class CounterUiSection(StrictSection):
    """Sign-in and session rules of the counter UI."""

    lockout_failures: int = Field(
        default=5, ge=1, le=100, description="consecutive failed sign-ins that lock an account"
    )
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    idle_timeout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    # How far back a sale may be recorded after the fact (补录).
    supplementary_max_age_days: int = Field(default=90, ge=1, le=3650)


class BranchConfig(StrictSection):
    branch: BranchSection
    server: ServerSection = ServerSection()
    center: CenterSection = CenterSection()
    upload: UploadSection = UploadSection()
    spool: SpoolSection = SpoolSection()
    recorder: RecorderSection = RecorderSection()
    counter_ui: CounterUiSection = CounterUiSection()
    diagnosis: DiagnosisSection = DiagnosisSection()
    quality: QualitySection = QualitySection()
    gb28181: Gb28181Section | None = None
    counters: list[CounterSection] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_counters(self) -> BranchConfig:
        codes = [c.code for c in self.counters]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"counter code {sorted(dup)[0]!r} appears more than once")
        return self

    @model_validator(mode="after")
    def _gb_cameras(self) -> BranchConfig:
        played: dict[tuple[str, str], str] = {}
        for c in self.counters:
            cam = c.environment
            if not isinstance(cam, Gb28181CameraSection):
                continue
            if self.gb28181 is None:
                raise ValueError(
                    f"the environment camera of counter {c.code} is a gb28181 camera: add a [gb28181] section"
                )
            key = (cam.device_id, cam.channel_id)
            if key in played:
                raise ValueError(
                    f"GB/T 28181 channel {cam.channel_id} of device {cam.device_id} is the camera of "
                    f"counters {played[key]} and {c.code}; a channel can be one counter's only"
                )
            played[key] = c.code
        return self

    def counter(self, code: str) -> CounterSection:
        for c in self.counters:
            if c.code == code:
                return c
        raise KeyError(code)

    def api_secret(self) -> str:
        value = os.environ.get(ENV_API_SECRET, "")
        if not value:
            raise ConfigError(f"set {ENV_API_SECRET}: the secret the center issued when this branch was enrolled")
        return value

    @property
    def spool_dir(self) -> Path:
        return self.branch.data_dir / "spool"

    @property
    def key_path(self) -> Path:
        return self.branch.data_dir / "keys" / "manifest-signing.pem"

    def database_url(self) -> str:
        return f"sqlite:///{self.branch.data_dir / 'branch.db'}"


def load_branch_config(path: Path) -> BranchConfig:
    return load_toml_model(path, BranchConfig)
