"""Branch agent configuration: a strict schema; the API secret comes from the environment, never the file."""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from storage.config_file import ConfigError, ConfigPath, StrictSection, TimeZoneName, load_toml_model

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
    password_env: str = Field(default="", pattern=r"^([A-Z_][A-Z0-9_]{0,63})?$",
                              description="name of the environment variable holding the password")
    transport: Literal["tcp", "udp"] = "tcp"
    # Capture-to-arrival delay of this camera, measured at installation; taken off its timestamps.
    # Bounded well inside the recorder's tolerances (0.5 s audio latency, 1 s before a picture is stale).
    latency_ms: int = Field(default=0, ge=0, le=400)

    def password(self, what: str) -> str:
        return _secret_from_env(self.password_env, what)


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
    stream: str = Field(default="main", pattern=r"^(main|sub|[0-9]{2,5}x[0-9]{2,5})$",
                        description="main (largest), sub (smallest) or WIDTHxHEIGHT")
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
    SyntheticCameraSection | OnvifCameraSection | RtspCameraSection | FileCameraSection, Field(discriminator="kind")
]
DeskCameraSection = Annotated[
    SyntheticCameraSection | V4l2CameraSection | RtspCameraSection | FileCameraSection, Field(discriminator="kind")
]
VideoSourceSection = (
    SyntheticCameraSection | OnvifCameraSection | RtspCameraSection | FileCameraSection | V4l2CameraSection
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
    def _camera_has_sound(self) -> "CounterSection":
        if isinstance(self.microphone, CameraMicrophoneSection):
            camera = getattr(self, self.microphone.camera)
            if isinstance(camera, (SyntheticCameraSection, V4l2CameraSection)):
                raise ValueError(
                    f"microphone kind 'camera' takes the sound of the {self.microphone.camera} camera, "
                    f"but a {camera.kind} camera has no sound; use an rtsp, onvif or file camera or an alsa microphone"
                )
        return self


class RecorderSection(StrictSection):
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    bitrate_kbit: int = Field(default=4000, ge=250, le=20000)
    gop_seconds: float = Field(default=1.0, gt=0, le=10)
    audio_bitrate_kbit: int = Field(default=128, ge=32, le=320)


class CounterUiSection(StrictSection):
    """Sign-in and session rules of the counter UI."""

    lockout_failures: int = Field(default=5, ge=1, le=100, description="consecutive failed sign-ins that lock an account")
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
    counters: list[CounterSection] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_counters(self) -> "BranchConfig":
        codes = [c.code for c in self.counters]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"counter code {sorted(dup)[0]!r} appears more than once")
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
