"""Central configuration of a branch: what the system admin sets at the center, the branch pulls (ETag)
and validates like its own TOML file, and the branch's report of what it applied or refused and why.

The center checks shapes only; what a camera section must hold is the branch's source registry, so the
branch is the one judge and the center shows its verdict. A section is the table the branch's TOML has
under ``[counters.environment]`` (``kind``, address, stream...). Passwords never travel: a section
names the branch's local secret (``password_env``), and the center refuses any key or address that
would carry one. Version 0 is "nothing set centrally": the branch runs on its file alone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | int | float | bool
SourceSection = dict[str, Scalar]
SOURCE_ROLES = ("environment", "desk", "microphone")
# A key that names where a secret is (password_env) is welcome; one that could hold it is not.
_SECRET_KEY = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
_REFERENCE_KEY = re.compile(r".*_env")
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]*@")


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_no_secret(section: SourceSection, where: str) -> SourceSection:
    for key, value in section.items():
        if _SECRET_KEY.search(key) and not _REFERENCE_KEY.fullmatch(key):
            raise ValueError(
                f"{where}.{key}: 中心不保存密码,请填写网点本地密钥的名称(password_env) / the center keeps no "
                "password: name the branch's local secret in password_env instead"
            )
        if isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
            raise ValueError(
                f"{where}.{key}: 地址中不得含密码 / the address must not carry a password; "
                "give the user in username and the secret's name in password_env"
            )
        if len(key) > 64 or (isinstance(value, str) and len(value) > 1000):
            raise ValueError(f"{where}.{key}: 过长 / too long")
    return section


class CentralCounter(_Msg):
    """One counter's sources; a role left out keeps what the branch's file says."""

    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    environment: SourceSection | None = None
    desk: SourceSection | None = None
    microphone: SourceSection | None = None

    @model_validator(mode="after")
    def _no_secrets(self) -> CentralCounter:
        for role in SOURCE_ROLES:
            section = getattr(self, role)
            if section is not None:
                check_no_secret(section, f"{self.code}.{role}")
        return self

    def sources(self) -> dict[str, SourceSection]:
        return {role: s for role in SOURCE_ROLES if (s := getattr(self, role)) is not None}


class CentralUpload(_Msg):
    """The off-hours upload window (HH:MM, branch time) and the cap in Mbit/s (0: none)."""

    window_start: str | None = Field(default=None, max_length=16)
    window_end: str | None = Field(default=None, max_length=16)
    bandwidth_mbit: float | None = None


class CentralLimits(_Msg):
    """Below these the counter refuses a new recording (the branch file's [spool] limits)."""

    min_free_gb: float | None = None
    min_days_left: float | None = None


class CentralConfig(_Msg):
    version: int = Field(default=0, ge=0)
    upload: CentralUpload = Field(default_factory=CentralUpload)
    limits: CentralLimits = Field(default_factory=CentralLimits)
    counters: list[CentralCounter] = Field(default_factory=list, max_length=64)

    @field_validator("counters")
    @classmethod
    def _unique(cls, v: list[CentralCounter]) -> list[CentralCounter]:
        codes = [c.code for c in v]
        if len(set(codes)) != len(codes):
            raise ValueError("柜台重复 / a counter appears twice")
        return v

    def sets_anything(self) -> bool:
        return bool(
            self.counters or self.upload.model_dump(exclude_none=True) or self.limits.model_dump(exclude_none=True)
        )


ReportState = Literal["applied", "waiting", "refused"]


class CentralConfigReport(_Msg):
    """What the branch made of the newest version it pulled.

    applied: all of it runs; waiting: applied but for the cameras of counters in the middle of a take
    (restarted when it ends); refused: ``reason`` says why, ``applied_version`` is what still runs
    (0: the branch's file alone).
    """

    version: int = Field(ge=0)
    state: ReportState
    applied_version: int = Field(ge=0)
    reason: str = Field(default="", max_length=4000)
    waiting_counters: list[str] = Field(default_factory=list, max_length=64)


class CentralConfigReceipt(_Msg):
    received_at: datetime
