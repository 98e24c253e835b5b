"""What a take carries besides the sale: how it came about, the customer's consent, the moments marked
so far and why required ones are missing.

Kept on the clip's row from the start and updated as markers are set, so that a clip cut off by a crash
still gets them in its manifest at recovery.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from storage.manifest import Consent, Marker, Origin, Supplementary


class TakeContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: Origin = "recorded"
    earlier_clip_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    supplementary: Supplementary | None = None
    consent: Consent | None = None
    markers: tuple[Marker, ...] = ()
    markers_missing_reason: str | None = Field(default=None, min_length=1, max_length=500)

    @classmethod
    def from_row(cls, raw: str | None) -> TakeContext:
        """A row written before takes had a context is a plain recording."""
        return cls.model_validate_json(raw) if raw else cls()

    def to_row(self) -> str:
        return self.model_dump_json()

    def with_marker(self, marker: Marker) -> TakeContext:
        return self.model_copy(update={"markers": (*self.markers, marker)})
