"""Burned-in text: legible, Chinese-capable, and rendered only when it changes."""

from __future__ import annotations

import numpy as np
import pytest

from branch_agent.recorder import OverlayRenderer, OverlayText


def _planes(luma: int = 100, u: int = 200, v: int = 60):
    return (
        np.full((1080, 1920), luma, np.uint8),
        np.full((540, 960), u, np.uint8),
        np.full((540, 960), v, np.uint8),
    )


def test_text_is_rendered_once_per_change_not_once_per_frame(cjk_font):
    renderer = OverlayRenderer(cjk_font, 36)
    y, u, v = _planes()
    for second in range(3):
        text = OverlayText([f"2025-03-01 10:00:0{second}", "网点 0101 柜台 03"])
        for _frame in range(25):
            renderer.apply(y, u, v, text)
    assert renderer.render_count == 3


def test_chinese_text_produces_glyphs(cjk_font):
    renderer = OverlayRenderer(cjk_font, 36)
    chinese = renderer.render(OverlayText(["网点柜台员工流水号理财录像"]))
    spaces = renderer.render(OverlayText([" " * 13]))
    ink = int((chinese.alpha > 128).sum())
    assert ink > 2000
    assert ink > 50 * (int((spaces.alpha > 128).sum()) + 1)


def test_text_is_white_with_dark_outline_and_neutral_chroma(cjk_font):
    renderer = OverlayRenderer(cjk_font, 48, position="top-left", margin=20)
    y, u, v = _planes(luma=128)
    renderer.apply(y, u, v, OverlayText(["理财录像 0123"]))
    block = y[20:100, 20:500]
    assert block.max() >= 220  # glyph bodies
    assert block.min() <= 40  # outline around them
    changed = y != 128
    assert changed[:120, :520].any() and not changed[120:, :].any()
    # Under the glyphs the colour is neutral grey, elsewhere the picture keeps its tint.
    assert (u[10:50, 10:250] == 128).any() and u[300, 500] == 200 and v[300, 500] == 60


@pytest.mark.parametrize("position", ["top-right", "bottom-left", "bottom-right"])
def test_text_goes_to_the_configured_corner(cjk_font, position):
    renderer = OverlayRenderer(cjk_font, 36, position=position, margin=24)
    y, u, v = _planes()
    renderer.apply(y, u, v, OverlayText(["员工 A1234"]))
    rows, cols = np.nonzero(y != 100)
    assert (rows.min() < 540) == position.startswith("top")
    assert (cols.min() > 960) == position.endswith("right")


def test_missing_font_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-font.ttc"
    with pytest.raises(FileNotFoundError, match=r"no-such-font\.ttc"):
        OverlayRenderer(missing, 36)
