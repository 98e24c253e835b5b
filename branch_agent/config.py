"""Branch agent configuration: a strict schema; the API secret comes from the environment, never the file."""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Literal

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


class VideoSourceSection(StrictSection):
    kind: Literal["synthetic"]
    width: int = Field(default=1920, ge=16, le=7680)
    height: int = Field(default=1080, ge=16, le=4320)
    fps: int = Field(default=25, ge=1, le=60)
    label: str = ""


class AudioSourceSection(StrictSection):
    kind: Literal["tone"]
    frequency_hz: float = Field(default=1000.0, gt=0, lt=20000)


class LayoutSection(StrictSection):
    corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "bottom-right"
    inset_width: int = Field(default=480, ge=64, le=960)
    inset_height: int = Field(default=384, ge=64, le=768)
    overlay_position: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-left"


class CounterSection(StrictSection):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=100)
    environment: VideoSourceSection
    desk: VideoSourceSection
    microphone: AudioSourceSection
    layout: LayoutSection = LayoutSection()


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
