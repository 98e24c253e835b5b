"""Branch agent configuration: a strict schema; the API secret comes from the environment, never the file."""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

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
    url: str = Field(default="http://127.0.0.1:8700", pattern=r"^https?://")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Products, staff and branch settings are pulled this often (a 304 costs one small request).
    sync_interval_minutes: int = Field(default=5, ge=1, le=24 * 60)
    heartbeat_interval_s: int = Field(default=60, ge=10, le=3600)


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


_ENV_NAME = r"^([A-Z_][A-Z0-9_]{0,63})?$"


def _secret_from_env(variable: str, what: str) -> str:
    """A camera password: only ever from the environment, never from the file."""
    if not variable:
        return ""
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"set {variable}: the password of {what}")
    return value


class _NetworkCameraAuth(StrictSection):
    username: str = Field(default="", max_length=128)
    password_env: str = Field(
        default="", pattern=_ENV_NAME, description="name of the environment variable holding the password"
    )
    transport: Literal["tcp", "udp"] = "tcp"
    # Capture-to-arrival delay of this camera, measured at installation; taken off its timestamps.
    # Bounded well inside the recorder's tolerances (0.5 s audio latency, 1 s before a picture is stale).
    latency_ms: int = Field(default=0, ge=0, le=400)

    def password(self, what: str) -> str:
        return _secret_from_env(self.password_env, what)


def _gb_id(value: str, what: str) -> str:
    from branch_agent.gb28181.gb_ids import parse_gb_id

    parse_gb_id(value, what)  # InvalidGbId is a ValueError: pydantic names the key
    return value


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
    password_env: str = Field(default="", pattern=_ENV_NAME)
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
            _gb_id(device_id, "device ID")
            if not re.fullmatch(_ENV_NAME, variable) or not variable:
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

        passwords = {d: _secret_from_env(v, f"GB/T 28181 device {d}") for d, v in self.device_password_envs.items()}
        default = _secret_from_env(self.password_env, "the GB/T 28181 cameras") if self.password_env else None
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


class Gb28181CameraSection(StrictSection):
    """A camera that registers to the agent's GB/T 28181 platform; the agent INVITEs its channel."""

    kind: Literal["gb28181"]
    device_id: str
    channel_id: str = Field(description="the channel to play; an IP camera's is often its device ID")
    media_transport: Literal["udp", "tcp_passive", "tcp_active"] = "udp"
    media_port: int = Field(default=0, ge=0, le=65535, description="0: a free port per session")
    latency_ms: int = Field(default=0, ge=0, le=400)
    # Without a packet for this long the session is hung up and the channel INVITEd again.
    media_timeout_s: float = Field(default=10.0, ge=2, le=300)

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, v: str) -> str:
        return _gb_id(v, "device ID")

    @field_validator("channel_id")
    @classmethod
    def _channel_id(cls, v: str) -> str:
        return _gb_id(v, "channel ID")


class SyntheticCameraSection(StrictSection):
    kind: Literal["synthetic"]
    width: int = Field(default=1920, ge=16, le=7680)
    height: int = Field(default=1080, ge=16, le=4320)
    fps: int = Field(default=25, ge=1, le=60)
    label: str = ""


class RtspCameraSection(_NetworkCameraAuth):
    kind: Literal["rtsp"]
    url: str = Field(pattern=r"^rtsps?://[^/\s]+")

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if urlsplit(v).password is not None:
            raise ValueError("the URL carries a password; put it in the variable named by password_env")
        return v


class OnvifCameraSection(_NetworkCameraAuth):
    kind: Literal["onvif"]
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(default=80, ge=1, le=65535)
    stream: str = Field(
        default="main",
        pattern=r"^(main|sub|[0-9]{2,5}x[0-9]{2,5})$",
        description="main (largest), sub (smallest) or WIDTHxHEIGHT",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class FileCameraSection(StrictSection):
    kind: Literal["file"]
    path: ConfigPath
    loop: bool = True

    @field_validator("path")
    @classmethod
    def _exists(cls, v: Path) -> Path:
        if not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v


class V4l2CameraSection(StrictSection):
    kind: Literal["v4l2"]
    device: Path = Path("/dev/video0")
    width: int = Field(default=1280, ge=16, le=7680)
    height: int = Field(default=720, ge=16, le=4320)
    fps: int = Field(default=25, ge=1, le=60)
    input_format: Literal["", "mjpeg", "yuyv422", "h264"] = Field(default="", description="empty: the device's default")


EnvironmentCameraSection = Annotated[
    SyntheticCameraSection | OnvifCameraSection | RtspCameraSection | FileCameraSection | Gb28181CameraSection,
    Field(discriminator="kind"),
]
DeskCameraSection = Annotated[
    SyntheticCameraSection | V4l2CameraSection | RtspCameraSection | FileCameraSection, Field(discriminator="kind")
]
VideoSourceSection = (
    SyntheticCameraSection
    | OnvifCameraSection
    | RtspCameraSection
    | FileCameraSection
    | V4l2CameraSection
    | Gb28181CameraSection
)


class ToneMicrophoneSection(StrictSection):
    kind: Literal["tone"]
    frequency_hz: float = Field(default=1000.0, gt=0, lt=20000)


class AlsaMicrophoneSection(StrictSection):
    kind: Literal["alsa"]
    device: str = Field(default="default", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:,.=-]+$")
    channels: int = Field(default=1, ge=1, le=8, description="captured channels, mixed down to mono")
    latency_ms: int = Field(default=0, ge=0, le=400)


class CameraMicrophoneSection(StrictSection):
    kind: Literal["camera"]
    camera: Literal["environment", "desk"] = "environment"


AudioSourceSection = Annotated[
    ToneMicrophoneSection | AlsaMicrophoneSection | CameraMicrophoneSection, Field(discriminator="kind")
]


class LayoutSection(StrictSection):
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "bottom-right"
    inset_width: int = Field(default=480, ge=64, le=960)
    inset_height: int = Field(default=384, ge=64, le=768)
    overlay_position: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-left"


class CounterSection(StrictSection):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    environment: EnvironmentCameraSection
    desk: DeskCameraSection
    microphone: AudioSourceSection
    layout: LayoutSection = LayoutSection()

    @model_validator(mode="after")
    def _camera_has_sound(self) -> CounterSection:
        if isinstance(self.microphone, CameraMicrophoneSection):
            camera = getattr(self, self.microphone.camera)
            if isinstance(camera, (SyntheticCameraSection, V4l2CameraSection)):
                raise ValueError(
                    f"microphone kind 'camera' takes the sound of the {self.microphone.camera} camera, "
                    f"but a {camera.kind} camera has no sound; use an rtsp, onvif, gb28181 or file camera or an alsa microphone"
                )
        return self


class RecorderSection(StrictSection):
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    bitrate_kbit: int = Field(default=4000, ge=250, le=20000)
    gop_seconds: float = Field(default=1.0, gt=0, le=10)
    audio_bitrate_kbit: int = Field(default=128, ge=32, le=320)


class CounterUiSection(StrictSection):
    """Sign-in and session rules of the counter UI."""

    lockout_failures: int = Field(
        default=5, ge=1, le=100, description="consecutive failed sign-ins that lock an account"
    )
    lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    idle_timeout_minutes: float = Field(default=30.0, gt=0, le=24 * 60)


class BranchConfig(StrictSection):
    branch: BranchSection
    server: ServerSection = ServerSection()
    center: CenterSection = CenterSection()
    upload: UploadSection = UploadSection()
    spool: SpoolSection = SpoolSection()
    recorder: RecorderSection = RecorderSection()
    counter_ui: CounterUiSection = CounterUiSection()
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
