"""Diagnosis of a live camera from one picture: what the clip check measures (vision.py: black, dark,
bright, blurred, covered, frozen), plus what only a camera watched over days shows: a colour cast, and
a camera moved since its reference picture was taken.

Pure functions over I420 planes, so the branch runs them on its live frames and tests on real pictures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from storage.quality.policy import QualityPolicy
from storage.quality.vision import RegionView, resize_to_width

FINDING_LABELS: Final[dict[str, str]] = {
    "signal_loss": "信号丢失 / signal loss",
    "black": "黑屏 / black picture",
    "frozen": "画面冻结 / frozen picture",
    "blurred": "画面模糊 / blurred",
    "too_dark": "画面过暗 / too dark",
    "too_bright": "画面过亮 / too bright",
    "colour_cast": "偏色 / colour cast",
    "occluded": "遮挡 / covered",
    "moved": "摄像头移位 / camera moved",
}


class LivePolicy(BaseModel):
    """Thresholds of the live diagnosis; the picture ones are the clip check's (`QualityPolicy`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    picture: QualityPolicy = QualityPolicy()
    # Colour cast, in CIELAB a/b units. Against the reference picture: how far the picture's mean colour
    # moved from the camera's own as installed (a warm wooden desk is not a cast; the same desk turned
    # red is). Without a reference: the mean colour's distance from grey, beyond `max_cast_ratio` times
    # the colours' own spread and at least `min_cast` (one strongly coloured scene is not enough).
    max_colour_shift: float = Field(default=12.0, gt=0)
    max_cast_ratio: float = Field(default=3.0, gt=0)
    min_cast: float = Field(default=20.0, gt=0)
    # Against the reference picture, at `reference_width`: a shift beyond this many pixels, or fewer
    # than this share of the reference's corner features found again, is a camera moved.
    reference_width: int = Field(default=320, ge=64, le=1920)
    max_shift_px: float = Field(default=6.0, gt=0)
    min_reference_match: float = Field(default=0.3, ge=0, le=1)
    min_reference_features: int = Field(default=30, ge=1)
    # Frozen: besides the clip check's small mean change, fewer than this share of the pixels changed
    # visibly (a small thing moving in a still room changes little on average, but somewhere).
    frozen_changed_share: float = Field(default=0.0005, gt=0, le=1)
    visible_change: int = Field(default=8, ge=1, le=255)


@dataclass(frozen=True)
class LiveDiagnosis:
    findings: list[str] = field(default_factory=list)
    brightness: float | None = None
    sharpness: float | None = None
    colour_cast: float | None = None
    covered_share: float | None = None
    change: float | None = None
    moved_px: float | None = None
    reference_match: float | None = None


@dataclass(frozen=True)
class Reference:
    """What is kept of a camera's picture as installed: its luma at the reference width, its mean colour."""

    luma: np.ndarray
    mean_a: float
    mean_b: float


@dataclass(frozen=True)
class _Colour:
    mean_a: float
    mean_b: float
    spread: float


def _colour(y: np.ndarray, u: np.ndarray, v: np.ndarray, width: int) -> _Colour:
    bgr = cv2.cvtColor(
        np.concatenate([y, u.reshape(-1, y.shape[1]), v.reshape(-1, y.shape[1])]), cv2.COLOR_YUV2BGR_I420
    )
    h = max(2, round(bgr.shape[0] * width / bgr.shape[1]))
    lab = cv2.cvtColor(cv2.resize(bgr, (width, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
    a = lab[:, :, 1].astype(np.float32) - 128.0
    b = lab[:, :, 2].astype(np.float32) - 128.0
    ma, mb = float(a.mean()), float(b.mean())
    return _Colour(ma, mb, float(np.hypot(np.abs(a - ma).mean(), np.abs(b - mb).mean())))


def reference_picture(y: np.ndarray, u: np.ndarray, v: np.ndarray, policy: LivePolicy) -> Reference:
    colour = _colour(y, u, v, policy.reference_width)
    return Reference(resize_to_width(y, policy.reference_width).copy(), colour.mean_a, colour.mean_b)


def _orb_match(reference: np.ndarray, current: np.ndarray, policy: LivePolicy) -> float | None:
    orb = cv2.ORB.create(nfeatures=300, edgeThreshold=15, patchSize=15)
    ref_kp, ref_desc = orb.detectAndCompute(reference, None)
    if ref_desc is None or len(ref_kp) < policy.min_reference_features:
        return None  # a featureless reference (a white wall) says nothing about movement
    cur_kp, cur_desc = orb.detectAndCompute(current, None)
    if cur_desc is None or not cur_kp:
        return 0.0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(ref_desc, cur_desc)
    # A feature found again must be found about where it was: a moved camera's matches are elsewhere.
    near = 0
    for m in matches:
        (x0, y0), (x1, y1) = ref_kp[m.queryIdx].pt, cur_kp[m.trainIdx].pt
        if m.distance < 48 and abs(x0 - x1) <= policy.max_shift_px and abs(y0 - y1) <= policy.max_shift_px:
            near += 1
    return near / len(ref_kp)


def compare_with_reference(reference: np.ndarray, y: np.ndarray, policy: LivePolicy) -> tuple[float, float | None]:
    """(shift in pixels by phase correlation, share of the reference's features found in place)."""
    current = resize_to_width(y, reference.shape[1])
    if current.shape != reference.shape:
        current = cv2.resize(current, (reference.shape[1], reference.shape[0]), interpolation=cv2.INTER_AREA)
    window = cv2.createHanningWindow((reference.shape[1], reference.shape[0]), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(reference.astype(np.float32), current.astype(np.float32), window)
    return float(np.hypot(dx, dy)), _orb_match(reference, current, policy)


def colour_cast(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, policy: LivePolicy, reference: Reference | None
) -> tuple[float, bool]:
    """(how far the colour is off, whether that is a cast)."""
    c = _colour(y, u, v, policy.reference_width)
    if reference is not None:
        shift = float(np.hypot(c.mean_a - reference.mean_a, c.mean_b - reference.mean_b))
        return shift, shift > policy.max_colour_shift
    cast = float(np.hypot(c.mean_a, c.mean_b))
    return cast, cast >= policy.min_cast and cast > policy.max_cast_ratio * c.spread


def diagnose(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    policy: LivePolicy,
    earlier_y: np.ndarray | None = None,
    reference: Reference | None = None,
) -> LiveDiagnosis:
    """One picture's faults. `earlier_y`: a picture of the same camera taken a moment before (frozen
    if nothing changed since); `reference`: `reference_picture` of the camera as installed."""
    pic = policy.picture
    view = RegionView(None, (), pic)
    if earlier_y is not None and earlier_y.shape == y.shape:
        view.measure(earlier_y)
    stats = view.measure(y)
    flags = stats.flags(pic)
    findings = [code for code in ("black", "too_dark", "too_bright", "blurred", "occluded") if flags[code]]
    if stats.change is not None and stats.change < pic.frozen_mad and not flags["black"] and earlier_y is not None:
        changed = np.count_nonzero(cv2.absdiff(y, earlier_y) > policy.visible_change) / y.size
        if changed < policy.frozen_changed_share:
            findings.append("frozen")
    cast, is_cast = colour_cast(y, u, v, policy, reference)
    if is_cast and not flags["black"] and not flags["occluded"]:
        findings.append("colour_cast")
    shift: float | None = None
    match: float | None = None
    # A black or covered picture cannot be compared; it is reported as what it is.
    if reference is not None and not flags["black"] and not flags["occluded"]:
        shift, match = compare_with_reference(reference.luma, y, policy)
        if shift > policy.max_shift_px or (match is not None and match < policy.min_reference_match):
            findings.append("moved")
    return LiveDiagnosis(
        findings=findings,
        brightness=stats.mean,
        sharpness=stats.sharpness,
        colour_cast=cast,
        covered_share=stats.uniform_share,
        change=stats.change,
        moved_px=shift,
        reference_match=match,
    )


def snapshot_jpeg(y: np.ndarray, u: np.ndarray, v: np.ndarray, width: int, max_bytes: int) -> bytes:
    """A small colour JPEG of the picture, at most `max_bytes` (lower quality, then smaller, until it fits)."""
    bgr = cv2.cvtColor(
        np.concatenate([y, u.reshape(-1, y.shape[1]), v.reshape(-1, y.shape[1])]), cv2.COLOR_YUV2BGR_I420
    )
    while True:
        h = max(2, round(bgr.shape[0] * width / bgr.shape[1]))
        small = cv2.resize(bgr, (width, h), interpolation=cv2.INTER_AREA)
        for quality in (75, 60, 45, 30):
            ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(data) <= max_bytes:
                return bytes(data)
        if width <= 64:
            return b""
        width //= 2
