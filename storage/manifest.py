"""The clip manifest: what a clip is, who made it, its hash, its place in the branch's chain, signed.

Canonical form: UTF-8 JSON, keys sorted, no insignificant whitespace; durations and offsets are
integer milliseconds so that no float formatting can change the bytes. The signature covers the
canonical form without the `signature` member; the chain links each manifest to the SHA-256 of the
previous manifest's full canonical form (signature included).

Members added after the first release (how the clip came about, consent, a reason for missing
moments) are left out of the canonical form while they hold their default, so the bytes, signature
and chain hash of every manifest written before them stay what they were.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from storage.signing import SignatureInvalid, SigningKey, key_id_for, verify_signature

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
SHA256_HEX = r"^[0-9a-f]{64}$"


class ManifestError(ValueError):
    """A manifest is malformed, unsigned, or does not match its media."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times in a manifest must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(_Strict):
    name: str = Field(min_length=1, max_length=100)
    id_type: Literal["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "other"]
    id_number: str = Field(min_length=1, max_length=32)
    card_number: str = Field(pattern=r"^[0-9]{12,19}$")


class Product(_Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    type_code: str = Field(min_length=1, max_length=40)


class MediaInfo(_Strict):
    file_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_HEX)
    container: Literal["mp4"] = "mp4"
    video_codec: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: int = Field(gt=0)
    audio_codec: str
    sample_rate: int = Field(gt=0)


class Gap(_Strict):
    source: str
    start_ms: int = Field(ge=0)
    duration_ms: int = Field(ge=0)


class Marker(_Strict):
    kind: Literal["risk_disclosed", "customer_confirmed", "signed", "note"]
    at_ms: int = Field(ge=0)
    text: str = Field(default="", max_length=500)


class Signature(_Strict):
    algorithm: Literal["ed25519"] = "ed25519"
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    value: str  # base64 of the 64-byte signature


Origin = Literal["recorded", "re_recorded", "supplementary", "imported"]


class Consent(_Strict):
    """The customer agreed, on the recording, to be recorded."""

    at_ms: int = Field(ge=0)  # from the clip's start
    given_at: UtcDatetime


class Supplementary(_Strict):
    """A recording made after the sale, because the sale's own recording is missing or unusable."""

    reason: str = Field(min_length=1, max_length=500)
    sale_at: UtcDatetime  # when the sale itself took place, as entered by the RM


class ImportedFrom(_Strict):
    """A recording made by another device (the appliance was down) and brought in by a branch admin."""

    original_file_name: str = Field(min_length=1, max_length=255)
    device: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)
    imported_by: str = Field(pattern=r"^[0-9]{7}$")
    imported_at: UtcDatetime


# Left out of the canonical form while they hold these values (see the module's docstring).
_LATER_MEMBERS: dict[str, object] = {
    "origin": "recorded",
    "earlier_clip_id": None,
    "supplementary": None,
    "imported": None,
    "consent": None,
    "markers_missing_reason": None,
}


class ClipManifest(_Strict):
    schema_version: Literal[1] = 1
    clip_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    state: Literal["completed", "interrupted"]
    branch_code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    counter_code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    staff_code: str = Field(pattern=r"^[0-9]{7}$")
    business_serial: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    customer: Customer
    product: Product
    started_at: UtcDatetime
    ended_at: UtcDatetime
    duration_ms: int = Field(ge=0)
    media: MediaInfo
    gaps: list[Gap] = Field(default_factory=list)
    markers: list[Marker] = Field(default_factory=list)
    prev_manifest_sha256: str | None = Field(default=None, pattern=SHA256_HEX)
    # How the clip came about: recorded at the sale, recorded again, recorded after the sale, or imported.
    origin: Origin = "recorded"
    earlier_clip_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")  # the same sale's clip before
    supplementary: Supplementary | None = None
    imported: ImportedFrom | None = None
    consent: Consent | None = None
    markers_missing_reason: str | None = Field(default=None, min_length=1, max_length=500)
    signature: Signature | None = None

    @model_serializer(mode="wrap")
    def _without_later_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # Every serialised form (canonical bytes, the upload request, the catalogue copy) is one a
        # reader from before these members can still take.
        data: dict[str, object] = handler(self)
        return {k: v for k, v in data.items() if k not in _LATER_MEMBERS or v != _LATER_MEMBERS[k]}

    @model_validator(mode="after")
    def _origin_explained(self) -> ClipManifest:
        if (self.origin == "supplementary") != (self.supplementary is not None):
            raise ValueError("a supplementary recording, and only one, carries its reason and time of sale")
        if (self.origin == "imported") != (self.imported is not None):
            raise ValueError("an imported recording, and only one, says where it came from")
        if self.origin == "re_recorded" and self.earlier_clip_id is None:
            raise ValueError("a re-recording names the clip it follows")
        if self.earlier_clip_id == self.clip_id:
            raise ValueError("a clip cannot follow itself")
        return self

    # -- canonical bytes --------------------------------------------------------------------------

    def _plain(self, with_signature: bool) -> dict[str, object]:
        data = self.model_dump(mode="json", exclude={"signature"} if not with_signature else set())
        return data

    def signing_bytes(self) -> bytes:
        return canonical_json(self._plain(with_signature=False))

    def canonical_bytes(self) -> bytes:
        if self.signature is None:
            raise ManifestError(f"manifest {self.clip_id} is not signed")
        return canonical_json(self._plain(with_signature=True))

    def manifest_sha256(self) -> str:
        """The hash the next manifest of the branch chains to."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    # -- signing ----------------------------------------------------------------------------------

    def signed(self, key: SigningKey) -> ClipManifest:
        sig = key.sign(self.signing_bytes())
        return self.model_copy(
            update={"signature": Signature(key_id=key.key_id, value=base64.b64encode(sig).decode("ascii"))}
        )

    def verify(self, public_key_b64: str) -> None:
        """Raises ManifestError unless signed by exactly this key."""
        if self.signature is None:
            raise ManifestError(f"manifest {self.clip_id} is not signed")
        if self.signature.key_id != key_id_for(public_key_b64):
            raise ManifestError(
                f"manifest {self.clip_id} is signed by key {self.signature.key_id}, not the branch's key"
            )
        try:
            verify_signature(public_key_b64, base64.b64decode(self.signature.value), self.signing_bytes())
        except SignatureInvalid as exc:
            raise ManifestError(f"manifest {self.clip_id}: signature does not verify") from exc

    @classmethod
    def parse(cls, raw: bytes | str | dict[str, object]) -> ClipManifest:
        from pydantic import ValidationError

        try:
            if isinstance(raw, dict):
                return cls.model_validate(raw)
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise ManifestError(f"manifest field {where}: {first['msg']}") from exc


def canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_file(path: Path, chunk: int = 1024 * 1024) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def verify_media(manifest: ClipManifest, media_path: Path) -> None:
    digest, size = sha256_file(media_path)
    if size != manifest.media.size:
        raise ManifestError(f"{media_path.name}: size {size} differs from the manifest's {manifest.media.size}")
    if digest != manifest.media.sha256:
        raise ManifestError(f"{media_path.name}: SHA-256 differs from the manifest")


def json_schema() -> dict[str, object]:
    return ClipManifest.model_json_schema(mode="validation")


def schema_file_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


_CLIP_ID = re.compile(r"^[0-9a-f]{32}$")


def is_clip_id(value: str) -> bool:
    return bool(_CLIP_ID.match(value))
