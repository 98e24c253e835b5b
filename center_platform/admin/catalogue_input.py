"""What a system admin may send to configure the catalogue: one pydantic model per create and per edit.

Edit models carry only optional fields; which fields were actually sent (`model_fields_set`) is what
changes, so an explicit null clears a value and an absent key leaves it alone.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from center_platform.retention.rules import RULES
from storage.contract.roles import RELATIONSHIP_MANAGER, StaffRole

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
STAFF_CODE = r"^[0-9]{7}$"
USERNAME = r"^[A-Za-z0-9_.-]{3,64}$"
RiskLevel = Literal["R1", "R2", "R3", "R4", "R5"]
UserRole = Literal["compliance_officer", "system_admin", "auditor", "branch_admin"]
RetentionRuleName = Literal["fixed_term", "open_ended"]
assert set(RetentionRuleName.__args__) == set(RULES)  # type: ignore[attr-defined]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from exc
    return value


def check_public_key(value: str | None) -> str | None:
    """The branch's Ed25519 manifest key: standard base64 of the 32 raw bytes."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}")
    return value


def check_markers(value: list[str] | None) -> list[str] | None:
    """Required markers are short labels the recording must show ("风险揭示", "客户确认")."""
    if value is None:
        return None
    cleaned = [m.strip() for m in value]
    if any(not 1 <= len(m) <= 40 for m in cleaned):
        raise ValueError("each marker is a short label of 1 to 40 characters")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("each marker may appear once")
    return cleaned


class ProductTypeCreate(_In):
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    name: str = Field(min_length=1, max_length=200)
    retention_rule: RetentionRuleName
    years_after_maturity: int = Field(default=2, ge=0, le=100)
    years_after_purchase: int = Field(default=5, ge=0, le=100)
    years_after_redemption: int = Field(default=2, ge=0, le=100)
    years_after_dispute: int = Field(default=2, ge=0, le=100)


class ProductTypeEdit(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    retention_rule: RetentionRuleName | None = None
    years_after_maturity: int | None = Field(default=None, ge=0, le=100)
    years_after_purchase: int | None = Field(default=None, ge=0, le=100)
    years_after_redemption: int | None = Field(default=None, ge=0, le=100)
    years_after_dispute: int | None = Field(default=None, ge=0, le=100)


class ProductCreate(_In):
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    name: str = Field(min_length=1, max_length=200)
    type_code: str = Field(min_length=1, max_length=40)
    term_days: int | None = Field(default=None, ge=1, le=36500)
    maturity_date: date | None = None
    risk_level: RiskLevel
    disclosure_script: str = Field(default="", max_length=20000)
    required_markers: list[str] = Field(default_factory=list, max_length=20)
    min_duration_s: int = Field(default=0, ge=0, le=24 * 3600)

    _markers = field_validator("required_markers")(check_markers)


class ProductEdit(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    type_code: str | None = Field(default=None, min_length=1, max_length=40)
    term_days: int | None = Field(default=None, ge=1, le=36500)
    maturity_date: date | None = None
    risk_level: RiskLevel | None = None
    disclosure_script: str | None = Field(default=None, max_length=20000)
    required_markers: list[str] | None = Field(default=None, max_length=20)
    min_duration_s: int | None = Field(default=None, ge=0, le=24 * 3600)
    active: bool | None = None

    _markers = field_validator("required_markers")(check_markers)


class CounterCreate(_In):
    code: str = Field(min_length=1, max_length=32, pattern=CODE)
    name: str = Field(min_length=1, max_length=200)


class CounterEdit(_In):
    name: str = Field(min_length=1, max_length=200)


class BranchCreate(_In):
    code: str = Field(min_length=1, max_length=32, pattern=CODE)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Asia/Shanghai"
    signing_public_key: str
    counters: list[CounterCreate] = Field(default_factory=list, max_length=100)

    _tz = field_validator("timezone")(check_timezone)
    _key = field_validator("signing_public_key")(check_public_key)


class BranchEdit(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    signing_public_key: str | None = None
    active: bool | None = None

    _tz = field_validator("timezone")(check_timezone)
    _key = field_validator("signing_public_key")(check_public_key)


class StaffCreate(_In):
    code: str = Field(pattern=STAFF_CODE)
    name: str = Field(min_length=1, max_length=100)
    role: StaffRole = RELATIONSHIP_MANAGER
    branch_code: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=8, max_length=200)


class StaffEdit(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: StaffRole | None = None
    branch_code: str | None = Field(default=None, min_length=1, max_length=32)
    password: str | None = Field(default=None, min_length=8, max_length=200)
    active: bool | None = None


class UserCreate(_In):
    username: str = Field(pattern=USERNAME)
    display_name: str = Field(default="", max_length=100)
    role: UserRole
    branch_code: str | None = Field(default=None, max_length=32)
    password: str = Field(min_length=8, max_length=200)


class UserEdit(_In):
    display_name: str | None = Field(default=None, max_length=100)
    role: UserRole | None = None
    branch_code: str | None = Field(default=None, max_length=32)
    active: bool | None = None


class PasswordReset(_In):
    password: str = Field(min_length=8, max_length=200)
