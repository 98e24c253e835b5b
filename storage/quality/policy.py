"""What a clip is checked against: thresholds as data, and the facts about the clip that only its
manifest (not its pictures and sound) can tell.

The branch and the center must come to the same verdict on the same clip, so every threshold the
check uses is in ``QualityPolicy`` and the policy used is written into the report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from storage.manifest import ClipManifest

FindingCode = Literal[
    "no_face",
    "no_person",
    "no_speech",
    "silent",
    "clipped",
    "quiet",
    "black",
    "frozen",
    "blurred",
    "too_dark",
    "too_bright",
    "occluded",
    "gap",
    "interrupted",
    "too_short",
    "desync",
    "marker_missing",
    "marker_order",
    "consent_missing",
    "unreadable",
]
Role = Literal["environment", "desk", "microphone"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Frozen):
    """A rectangle of the picture as fractions of its width and height, so it fits any resolution."""

    x: float = Field(ge=0, lt=1)
    y: float = Field(ge=0, lt=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)

    @classmethod
    def from_pixels(cls, x: int, y: int, width: int, height: int, frame_width: int, frame_height: int) -> Region:
        return cls(x=x / frame_width, y=y / frame_height, width=width / frame_width, height=height / frame_height)

    def pixels(self, frame_width: int, frame_height: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in a ``frame_width`` x ``frame_height`` picture, clamped to it."""
        x0 = min(frame_width - 1, round(self.x * frame_width))
        y0 = min(frame_height - 1, round(self.y * frame_height))
        x1 = max(x0 + 1, min(frame_width, round((self.x + self.width) * frame_width)))
        y1 = max(y0 + 1, min(frame_height, round((self.y + self.height) * frame_height)))
        return x0, y0, x1, y1


# The recorder's default layout (branch_agent.recorder.PipLayout()): a 480x384 inset inside a 4 px
# border, 32 px from the bottom-right corner of 1920x1080; the burned-in text block at the top left.
DEFAULT_INSET = Region.from_pixels(1404, 660, 480, 384, 1920, 1080)
DEFAULT_INSET_FRAME = Region.from_pixels(1400, 656, 488, 392, 1920, 1080)
DEFAULT_OVERLAY = Region.from_pixels(0, 0, 1152, 216, 1920, 1080)


class DefectRule(_Frozen):
    """How long a defect must last to be reported, and to fail the clip."""

    min_s: float = Field(ge=0)
    fail_s: float | None = Field(default=None, ge=0)  # None: reported as a warning only


def _default_rules() -> dict[FindingCode, DefectRule]:
    return {
        "black": DefectRule(min_s=2, fail_s=5),
        "frozen": DefectRule(min_s=3, fail_s=10),
        "occluded": DefectRule(min_s=3, fail_s=10),
        "blurred": DefectRule(min_s=3),
        "too_dark": DefectRule(min_s=3),
        "too_bright": DefectRule(min_s=3),
        "silent": DefectRule(min_s=3, fail_s=15),
        "clipped": DefectRule(min_s=1),
        "gap": DefectRule(min_s=0, fail_s=5),
        # Stretches without a face, a person or a voice are reported from this length; whether
        # they fail the clip is decided by the shares below, not by their length.
        "no_face": DefectRule(min_s=2),
        "no_person": DefectRule(min_s=2),
        "no_speech": DefectRule(min_s=5),
    }


class QualityPolicy(_Frozen):
    """Every threshold of the check. Product-specific parts: ``min_duration_s``, ``required_markers``."""

    version: Literal[1] = 1
    sample_hz: float = Field(default=1.0, ge=0.5, le=2.0)
    # Who is on the picture: the desk camera's inset must show a face, the environment a person.
    inset: Region = DEFAULT_INSET
    environment_excludes: tuple[Region, ...] = (DEFAULT_INSET_FRAME, DEFAULT_OVERLAY)
    min_face_share: float = Field(default=0.8, ge=0, le=1)
    min_person_share: float = Field(default=0.8, ge=0, le=1)
    face_analysis_width: int = Field(default=480, ge=64, le=1920)
    person_analysis_width: int = Field(default=1280, ge=64, le=3840)
    person_every: int = Field(default=2, ge=1, le=10)  # look for people in every n-th sample
    detector_threshold: float = -0.2  # dlib's score threshold (its own default is 0); higher finds fewer
    # Sound: voice activity per second, level per second.
    min_speech_share: float = Field(default=0.3, ge=0, le=1)
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    speech_frame_share: float = Field(default=0.2, gt=0, le=1)  # of a second's 32 ms VAD frames
    silent_dbfs: float = -60.0
    quiet_speech_dbfs: float = -42.0
    clip_level: float = Field(default=0.98, gt=0, le=1)
    clipped_sample_share: float = Field(default=0.001, gt=0, le=1)
    max_av_offset_s: float = Field(default=0.2, gt=0)
    # Picture, on video-range luma (16..235).
    black_luma: float = 24.0
    black_std: float = 6.0
    dark_luma: float = 45.0
    bright_share: float = Field(default=0.4, gt=0, le=1)  # of pixels at or above bright_luma
    bright_luma: float = 230.0
    min_sharpness: float = 0.1  # variance of the Laplacian / variance of the picture, at metric_width
    frozen_mad: float = 0.6  # mean absolute luma change between samples, full resolution
    uniform_cell_std: float = 3.0
    occluded_share: float = Field(default=0.6, gt=0, le=1)  # of the 4x4 grid's cells
    metric_width: int = Field(default=320, ge=64, le=1920)
    # Continuity and the product's requirements.
    min_duration_s: float = Field(default=0.0, ge=0)
    required_markers: tuple[str, ...] = ()
    rules: dict[FindingCode, DefectRule] = Field(default_factory=_default_rules)

    @model_validator(mode="after")
    def _rules_complete(self) -> QualityPolicy:
        missing = set(_default_rules()) - set(self.rules)
        if missing:
            raise ValueError(f"rules missing for {sorted(missing)}")
        return self

    def for_product(self, required_markers: list[str] | tuple[str, ...], min_duration_s: float = 0.0) -> QualityPolicy:
        """This policy with a product's required markers (in their order) and minimum duration."""
        return self.model_copy(
            update={"required_markers": tuple(required_markers), "min_duration_s": float(min_duration_s)}
        )

    def rule(self, code: FindingCode) -> DefectRule:
        return self.rules.get(code, DefectRule(min_s=0))


class Marker(_Frozen):
    """A named moment on the recording (风险揭示, 客户确认, …), seconds from its start."""

    name: str = Field(min_length=1, max_length=100)
    at_s: float = Field(ge=0)


class GapFact(_Frozen):
    """A stretch where a source delivered nothing, as the recorder wrote it into the manifest."""

    source: str
    start_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)


# The manifest's marker kinds and the labels a product's required markers use for them.
MARKER_LABELS: dict[str, tuple[str, ...]] = {
    "risk_disclosed": ("风险揭示", "risk disclosed", "risk disclosure"),
    "customer_confirmed": ("客户确认", "customer confirmed", "customer confirmation"),
    "signed": ("签字", "签署", "签约", "signed", "signature"),
}


def marker_key(name: str) -> str:
    """One spelling per marker: a manifest kind and its labels compare equal."""
    folded = " ".join(name.replace("_", " ").split()).casefold()
    for kind, labels in MARKER_LABELS.items():
        if folded == kind.replace("_", " ") or folded in (label.casefold() for label in labels):
            return kind
    return folded


class ManifestFacts(_Frozen):
    """What the manifest says about the clip: how it ended, its gaps, its markers, which source is which."""

    state: Literal["completed", "interrupted"] = "completed"
    duration_s: float | None = Field(default=None, ge=0)  # None: the file's own duration
    gaps: tuple[GapFact, ...] = ()
    markers: tuple[Marker, ...] = ()
    source_roles: dict[str, Role] = Field(default_factory=dict)

    @classmethod
    def from_manifest(cls, manifest: ClipManifest, source_roles: dict[str, Role] | None = None) -> ManifestFacts:
        return cls(
            state=manifest.state,
            duration_s=manifest.duration_ms / 1000,
            gaps=tuple(
                GapFact(source=g.source, start_s=g.start_ms / 1000, duration_s=g.duration_ms / 1000)
                for g in manifest.gaps
            ),
            markers=tuple(
                Marker(name=m.text.strip() if m.kind == "note" and m.text.strip() else m.kind, at_s=m.at_ms / 1000)
                for m in manifest.markers
            ),
            source_roles=dict(source_roles or {}),
        )
