"""Picture-in-picture: the desk camera lands in its corner, the environment fills the rest."""

from __future__ import annotations

import numpy as np
import pytest

from branch_agent.recorder import PipCompositor, PipLayout
from branch_agent.sources import VideoFrame


def _flat(width: int, height: int, y: int, u: int, v: int) -> VideoFrame:
    return VideoFrame(
        y=np.full((height, width), y, np.uint8),
        u=np.full((height // 2, width // 2), u, np.uint8),
        v=np.full((height // 2, width // 2), v, np.uint8),
        pts_ns=0,
    )


ENV = _flat(1920, 1080, 50, 160, 100)
DESK = _flat(720, 576, 200, 90, 170)


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_inset_is_placed_in_the_requested_corner_with_a_border(corner):
    layout = PipLayout(corner=corner, margin=32, border_width=4, border_yuv=(235, 128, 128))
    y, u, v = PipCompositor(layout).compose(ENV, DESK)
    x0, y0 = layout.inset_origin()
    assert (x0 < 960) == corner.endswith("left")
    assert (y0 < 540) == corner.startswith("top")
    inset = (slice(y0, y0 + 384), slice(x0, x0 + 480))
    assert np.all(y[inset] == 200)
    assert np.all(u[y0 // 2 : (y0 + 384) // 2, x0 // 2 : (x0 + 480) // 2] == 90)
    assert np.all(v[y0 // 2 : (y0 + 384) // 2, x0 // 2 : (x0 + 480) // 2] == 170)
    assert np.all(y[y0 - 4 : y0, x0 : x0 + 480] == 235)  # border above the inset
    assert np.all(y[y0 : y0 + 384, x0 + 480 : x0 + 484] == 235)  # border right of it
    # Everything outside inset + border is the environment picture.
    mask = np.ones_like(y, bool)
    mask[y0 - 4 : y0 + 388, x0 - 4 : x0 + 484] = False
    assert np.all(y[mask] == 50)
    assert (y.shape, u.shape, v.shape) == ((1080, 1920), (540, 960), (540, 960))


def test_smaller_background_is_scaled_to_the_output_size():
    y, u, _ = PipCompositor(PipLayout()).compose(_flat(1280, 720, 80, 150, 128), DESK)
    assert y.shape == (1080, 1920) and u.shape == (540, 960)
    assert y[10, 10] == 80 and u[5, 5] == 150


def test_output_buffers_are_reused_between_frames():
    compositor = PipCompositor()
    first = compositor.compose(ENV, DESK)
    second = compositor.compose(_flat(1920, 1080, 90, 128, 128), DESK)
    assert all(a is b for a, b in zip(first, second))
    assert second[0][0, 0] == 90


def test_layout_rejects_odd_sizes_and_unknown_corners():
    with pytest.raises(ValueError, match="even"):
        PipLayout(inset_width=481)
    with pytest.raises(ValueError, match="corner"):
        PipLayout(corner="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit"):
        PipLayout(output_width=640, output_height=360)
