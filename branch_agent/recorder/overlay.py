"""Burned-in text (time, branch, counter, staff code, serial number) on the luma plane.

Text is rasterised with Pillow only when it changes (the time line changes once a second), into
an alpha mask and a luma patch; every frame then costs one small integer blend. White glyphs with a
dark outline stay legible on any background, and chroma under the text is set neutral so the text
is grey-white rather than tinted by the picture below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Position = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
_POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right")
_TEXT_LUMA = 235  # video-range white
_OUTLINE_LUMA = 16  # video-range black


@dataclass(frozen=True)
class OverlayText:
    """The lines to burn in, top to bottom. Equality decides whether to re-render."""

    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        # Lists are accepted for convenience but frozen to a tuple so equality and hashing work.
        object.__setattr__(self, "lines", tuple(str(line) for line in self.lines))


def sale_overlay(
    branch_name: str,
    counter_name: str,
    staff_code: str,
    business_serial: str,
    tz: tzinfo,
    origin_line: str = "",
) -> Callable[[datetime], OverlayText]:
    """The evidence text of one sale: branch-local time to the second, where, who, which sale, and for a
    take that is not the sale's own recording, what it is (e.g. recorded after the sale, and when that was)."""

    def lines(now: datetime) -> OverlayText:
        text = (
            now.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            f"{branch_name}  {counter_name}",
            f"员工 {staff_code}  业务单号 {business_serial}",
        )
        return OverlayText((*text, origin_line) if origin_line else text)

    return lines


@dataclass(frozen=True)
class OverlayPatch:
    """A rendered text block: ``alpha`` 0..255 coverage and ``luma`` values, same even shape."""

    alpha: np.ndarray
    luma: np.ndarray

    @property
    def width(self) -> int:
        return int(self.alpha.shape[1])

    @property
    def height(self) -> int:
        return int(self.alpha.shape[0])


class OverlayRenderer:
    """Renders ``OverlayText`` once per change and blends it into I420 planes in place."""

    def __init__(
        self,
        font_path: str | Path,
        font_size: int = 36,
        position: Position = "top-left",
        margin: int = 24,
        *,
        outline_px: int = 2,
        line_spacing_px: int = 6,
    ) -> None:
        path = Path(font_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"overlay font not found: {path} (configure a TrueType/OpenType font with CJK glyphs)"
            )
        if position not in _POSITIONS:
            raise ValueError(f"position must be one of {_POSITIONS}, got {position!r}")
        if font_size <= 0 or margin < 0 or outline_px < 0:
            raise ValueError("font_size must be positive; margin and outline_px non-negative")
        self.font_path = path
        self.font_size = font_size
        self.position = position
        self.margin = margin
        self._font = ImageFont.truetype(str(path), font_size)
        self._outline = outline_px
        self._spacing = line_spacing_px
        self._render_count = 0
        self._text: OverlayText | None = None
        self._patch: OverlayPatch | None = None
        # Blend operands, derived from the patch once so each frame is a few vectorised ops.
        self._inv_alpha = np.empty((0, 0), dtype=np.uint16)
        self._luma_premult = np.empty((0, 0), dtype=np.uint16)
        self._chroma_mask = np.empty((0, 0), dtype=bool)
        self._scratch = np.empty((0, 0), dtype=np.uint16)

    @property
    def render_count(self) -> int:
        """How many times text has been rasterised; unchanged text must not increase it."""
        return self._render_count

    def render(self, text: OverlayText) -> OverlayPatch:
        """Rasterise ``text`` (always; ``apply`` is the cached path)."""
        self._render_count += 1
        joined = "\n".join(text.lines)
        align = "right" if self.position.endswith("right") else "left"
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        left, top, right, bottom = probe.multiline_textbbox(
            (0, 0),
            joined,
            font=self._font,
            spacing=self._spacing,
            align=align,
            stroke_width=self._outline,
        )
        # Even dimensions keep the 2x2 chroma blocks aligned with the luma patch.
        width = int(right - left + 1) // 2 * 2
        height = int(bottom - top + 1) // 2 * 2
        if width <= 0 or height <= 0 or not joined.strip():
            empty = np.zeros((0, 0), dtype=np.uint8)
            return OverlayPatch(alpha=empty, luma=empty)
        luma = Image.new("L", (width, height), _OUTLINE_LUMA)
        alpha = Image.new("L", (width, height), 0)
        for image, ink, outline in ((luma, _TEXT_LUMA, _OUTLINE_LUMA), (alpha, 255, 255)):
            ImageDraw.Draw(image).multiline_text(
                (-left, -top),
                joined,
                fill=ink,
                stroke_fill=outline,
                font=self._font,
                spacing=self._spacing,
                align=align,
                stroke_width=self._outline,
            )
        return OverlayPatch(alpha=np.asarray(alpha).copy(), luma=np.asarray(luma).copy())

    def apply(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, text: OverlayText) -> None:
        """Blend ``text`` into the planes in place; re-render only if it changed since last time."""
        if text != self._text:
            self._prepare(self.render(text))
            self._text = text
        patch = self._patch
        if patch is None or patch.width == 0:
            return
        frame_h, frame_w = y.shape
        if patch.width + 2 * self.margin > frame_w or patch.height + 2 * self.margin > frame_h:
            # Truncated evidence text would be worse than a loud failure.
            raise ValueError(
                f"overlay text block {patch.width}x{patch.height} does not fit a "
                f"{frame_w}x{frame_h} frame with margin {self.margin}; "
                "shorten the lines or reduce the font size"
            )
        x0, y0 = self._origin(frame_w, frame_h, patch)
        y_roi = y[y0 : y0 + patch.height, x0 : x0 + patch.width]
        tmp = self._scratch
        # out = (Y * (256 - a) + L * a) >> 8, all in uint16 (max 255 * 256 fits).
        np.multiply(y_roi, self._inv_alpha, out=tmp)
        np.add(tmp, self._luma_premult, out=tmp)
        np.right_shift(tmp, 8, out=tmp)
        np.copyto(y_roi, tmp, casting="unsafe")
        cy, cx = y0 // 2, x0 // 2
        ch, cw = self._chroma_mask.shape
        np.copyto(u[cy : cy + ch, cx : cx + cw], 128, where=self._chroma_mask)
        np.copyto(v[cy : cy + ch, cx : cx + cw], 128, where=self._chroma_mask)

    def _prepare(self, patch: OverlayPatch) -> None:
        self._patch = patch
        if patch.width == 0:
            return
        alpha256 = (patch.alpha.astype(np.uint16) * 256 + 127) // 255
        self._inv_alpha = (256 - alpha256).astype(np.uint16)
        self._luma_premult = patch.luma.astype(np.uint16) * alpha256
        h, w = patch.alpha.shape
        blocks = patch.alpha.reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))
        self._chroma_mask = blocks >= 64
        self._scratch = np.empty((h, w), dtype=np.uint16)

    def _origin(self, frame_w: int, frame_h: int, patch: OverlayPatch) -> tuple[int, int]:
        if self.position.endswith("left"):
            x = self.margin
        else:
            x = frame_w - self.margin - patch.width
        if self.position.startswith("top"):
            y = self.margin
        else:
            y = frame_h - self.margin - patch.height
        # Even origin keeps the chroma mask on the same pixels as the luma patch.
        return x // 2 * 2, y // 2 * 2
