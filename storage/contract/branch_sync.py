"""What a branch pulls from the center with If-None-Match: its own configuration as the center knows it.

Products and staff keep the shapes of the catalogue and staff endpoints; the ETag of every versioned
reply is a hash of its canonical JSON, so it changes exactly when the content does.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

from storage.contract.roles import StaffRole
from storage.manifest import canonical_json


class CounterView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str


class BranchConfigView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    timezone: str
    counters: list[CounterView] = Field(default_factory=list)


def payload_etag(payload: object) -> str:
    """A strong ETag (quoted, as HTTP wants it) over the canonical JSON of the payload."""
    return '"' + hashlib.sha256(canonical_json(payload)).hexdigest() + '"'


class CatalogProduct(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    type_code: str = Field(min_length=1, max_length=40)
    type_name: str = Field(max_length=200)
    term_days: int | None = None
    risk_level: str = Field(max_length=8)
    disclosure_script: str = ""
    # The moments the recording must show, in their order (teleprompter steps, checked after Complete),
    # and the shortest recording the product allows. Absent from an older center: none, no minimum.
    required_markers: list[str] = Field(default_factory=list, max_length=20)
    min_duration_s: int = Field(default=0, ge=0, le=24 * 3600)


class CatalogPayload(BaseModel):
    products: list[CatalogProduct]


class StaffMember(BaseModel):
    code: str = Field(min_length=1, max_length=7)
    name: str = Field(min_length=1, max_length=100)
    role: StaffRole
    password_hash: str = Field(min_length=1, max_length=256)


class StaffPayload(BaseModel):
    staff: list[StaffMember]
