"""Messages of the branch upload protocol (register, presign parts, complete, status)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.manifest import ClipManifest


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterUpload(_Msg):
    """The signed manifest of a clip the branch is about to send.

    The center verifies the signature over the canonical form it derives from this model, which is
    the form the branch signed (storage.manifest), so the model loses nothing the signature covers.
    """

    manifest: ClipManifest

    @classmethod
    def from_wire(cls, data: dict[str, object]) -> RegisterUpload:
        """The request as received: a malformed request raises pydantic's ValidationError, a malformed
        manifest ManifestError naming its first bad field, the message branches have always been given."""
        envelope = _RegisterEnvelope.model_validate(data)
        return cls(manifest=ClipManifest.parse(envelope.manifest))


class _RegisterEnvelope(_Msg):
    manifest: dict[str, object]


class UploadPlan(_Msg):
    clip_id: str
    state: Literal["uploading", "verified", "quarantined"]
    size: int
    part_size: int
    part_count: int
    stored_parts: list[int] = Field(default_factory=list)
    reason: str = ""


class PartChecksum(_Msg):
    part_number: int = Field(ge=1, le=10_000)
    sha256_b64: str = Field(min_length=44, max_length=44)


class PresignRequest(_Msg):
    parts: list[PartChecksum] = Field(min_length=1, max_length=1000)


class PresignedPartUrl(_Msg):
    part_number: int
    url: str
    headers: dict[str, str]


class PresignResponse(_Msg):
    parts: list[PresignedPartUrl]
    expires_in_s: int


class UploadOutcome(_Msg):
    clip_id: str
    state: Literal["uploading", "verified", "quarantined"]
    reason: str = ""
    retain_until: str | None = None
