"""Looking at one sampled picture: faces and people, and whether the picture itself is usable.

Faces and people are found with dlib's frontal face detector (HOG features and linear SVMs for
frontal, left- and right-turned and tilted faces, trained by dlib on real photographs; the weights
are compiled into the library, so nothing is downloaded). OpenCV 5, which the recorder uses, no
longer carries the Haar cascades nor the HOG people detector in its main package. dlib finds faces
from about 80 pixels wide in the picture it is given, which is why the desk camera's inset is
analysed at ``face_analysis_width`` and the environment picture at ``person_analysis_width`` (a
face from about 120 px wide in 1080p): a person in the environment picture counts when their face
is turned at least partly towards the camera.

The picture measures are plain statistics of the luma plane: mean and spread (black, too dark,
too bright), variance of the Laplacian against the picture's own variance (blurred), the share of
grid cells without texture (covered), and the mean change since the previous sample (frozen).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import cv2
import dlib  # type: ignore[import-untyped]
import numpy as np

from storage.quality.policy import QualityPolicy, Region

_GRID = 4


class FaceDetector(Protocol):
    def count(self, gray: np.ndarray) -> int: ...


@cache
def _frontal_face_detector() -> object:
    return dlib.get_frontal_face_detector()  # a quarter of a second to build: once per process


class DlibFaceDetector:
    """dlib's HOG face detector, one picture at a time (single-threaded)."""

    def __init__(self, threshold: float = 0.0, upsample: int = 0) -> None:
        self._detector: Any = _frontal_face_detector()
        self.threshold = threshold
        self.upsample = upsample

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int, float]]:
        """``(left, top, right, bottom, score)`` of each face found in an 8-bit grey picture."""
        rects, scores, _ = self._detector.run(np.ascontiguousarray(gray), self.upsample, self.threshold)
        return [(r.left(), r.top(), r.right(), r.bottom(), float(s)) for r, s in zip(rects, scores)]

    def count(self, gray: np.ndarray) -> int:
        return len(self.detect(gray))


def resize_to_width(gray: np.ndarray, width: int) -> np.ndarray:
    h, w = gray.shape[:2]
    if w == width:
        return gray
    height = max(2, round(h * width / w))
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(gray, (width, height), interpolation=interp)


@dataclass(frozen=True)
class PictureStats:
    mean: float
    std: float
    bright_share: float
    sharpness: float  # variance of the Laplacian over the variance of the picture, at the metric width
    uniform_share: float  # of the grid's cells, those without texture
    change: float | None  # mean absolute luma change since the previous sample

    def flags(self, policy: QualityPolicy) -> dict[str, bool]:
        black = self.mean < policy.black_luma and self.std < policy.black_std
        occluded = not black and self.uniform_share >= policy.occluded_share
        return {
            "black": black,
            "occluded": occluded,
            "too_dark": not black and self.mean < policy.dark_luma,
            "too_bright": self.bright_share >= policy.bright_share,
            "blurred": not black and not occluded and self.sharpness < policy.min_sharpness,
        }


class RegionView:
    """One part of the composed picture (the inset, or the environment around it), as measured.

    Keeps its previous full-resolution picture to tell a frozen camera from a live one.
    """

    def __init__(self, region: Region | None, excludes: tuple[Region, ...], policy: QualityPolicy) -> None:
        self.region = region
        self.excludes = excludes
        self.policy = policy
        self._shape: tuple[int, int] | None = None
        self._box = (0, 0, 0, 0)
        self._mask: np.ndarray | None = None  # full resolution, 255 where the region is measured
        self._small_mask: np.ndarray | None = None
        self._previous: np.ndarray | None = None

    def _prepare(self, height: int, width: int) -> None:
        self._shape = (height, width)
        self._box = self.region.pixels(width, height) if self.region is not None else (0, 0, width, height)
        x0, y0, x1, y1 = self._box
        mask = np.full((y1 - y0, x1 - x0), 255, dtype=np.uint8)
        for ex in self.excludes:
            ex0, ey0, ex1, ey1 = ex.pixels(width, height)
            mask[max(0, ey0 - y0) : max(0, ey1 - y0), max(0, ex0 - x0) : max(0, ex1 - x0)] = 0
        self._mask = mask if self.excludes else None
        if self._mask is not None:
            small = resize_to_width(mask, min(mask.shape[1], self.policy.metric_width))
            # Edges where the excluded parts meet the picture are not the picture's own.
            self._small_mask = cv2.erode((small > 254).astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
        self._previous = None

    def crop(self, luma: np.ndarray) -> np.ndarray:
        if self._shape != luma.shape:
            self._prepare(*luma.shape)
        x0, y0, x1, y1 = self._box
        return luma[y0:y1, x0:x1]

    def masked_for_detection(self, luma: np.ndarray, width: int) -> np.ndarray:
        """The region at ``width`` with excluded parts filled flat, so nothing is found there."""
        part = self.crop(luma)
        if self._mask is not None:
            part = part.copy()
            part[self._mask == 0] = int(cv2.mean(part, mask=self._mask)[0])
        return resize_to_width(part, width)

    def measure(self, luma: np.ndarray) -> PictureStats:
        part = self.crop(luma)
        pol = self.policy
        change = None
        if self._previous is not None:
            diff = cv2.absdiff(part, self._previous)
            change = float(cv2.mean(diff, mask=self._mask)[0]) if self._mask is not None else float(diff.mean())
        self._previous = part.copy()
        small = resize_to_width(part, pol.metric_width) if part.shape[1] > pol.metric_width else part
        mask = self._small_mask if self._mask is not None else None
        if mask is not None and mask.shape != small.shape:
            mask = cv2.resize(mask, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
        mean_a, std_a = cv2.meanStdDev(small, mask=mask)
        counted = int(np.count_nonzero(mask)) if mask is not None else small.size
        bright = small >= pol.bright_luma
        bright_n = int(np.count_nonzero(bright & (mask > 0))) if mask is not None else int(np.count_nonzero(bright))
        lap = cv2.Laplacian(small, cv2.CV_32F, ksize=3)
        _, lap_std = cv2.meanStdDev(lap, mask=mask)
        return PictureStats(
            mean=float(mean_a[0, 0]),
            std=float(std_a[0, 0]),
            bright_share=bright_n / max(1, counted),
            # Relative to the picture's own contrast, so that a dim but sharp picture is not blurred.
            sharpness=float(lap_std[0, 0]) ** 2 / (float(std_a[0, 0]) ** 2 + 1.0),
            uniform_share=_uniform_share(small, mask, pol.uniform_cell_std),
            change=change,
        )


def _uniform_share(small: np.ndarray, mask: np.ndarray | None, max_std: float) -> float:
    h, w = small.shape
    uniform = counted = 0
    for i in range(_GRID):
        for j in range(_GRID):
            rows = slice(i * h // _GRID, (i + 1) * h // _GRID)
            cols = slice(j * w // _GRID, (j + 1) * w // _GRID)
            cell_mask = mask[rows, cols] if mask is not None else None
            if cell_mask is not None and np.count_nonzero(cell_mask) * 2 < cell_mask.size:
                continue  # mostly excluded: not part of this picture
            _, std = cv2.meanStdDev(small[rows, cols], mask=cell_mask)
            counted += 1
            uniform += float(std[0, 0]) < max_std
    return uniform / counted if counted else 0.0
