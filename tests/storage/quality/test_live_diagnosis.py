"""Live picture diagnosis on real photographs as a counter's camera would see them: a healthy picture,
then the same camera black, frozen, covered, moved, with a colour cast, too dark and too bright."""

from __future__ import annotations

import numpy as np
import pytest

from branch_agent.sources.synthetic_media import image_to_i420
from storage.quality.live import LivePolicy, Reference, diagnose, reference_picture, snapshot_jpeg
from tests.storage.quality.real_media import photo

W, H = 1280, 720
POLICY = LivePolicy()
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _scene(name: str = "coffee.png") -> Planes:
    return image_to_i420(photo(name), W, H)


def _noisy(planes: Planes, seed: int) -> Planes:
    """The same scene a moment later: a live sensor never gives the same picture twice."""
    rng = np.random.default_rng(seed)
    y = np.clip(planes[0].astype(np.int16) + rng.integers(-3, 4, planes[0].shape), 0, 255).astype(np.uint8)
    return y, planes[1], planes[2]


@pytest.fixture(scope="module")
def installed() -> tuple[Planes, Reference]:
    scene = _scene()
    return scene, reference_picture(*scene, POLICY)


def test_a_healthy_camera_has_no_findings(installed: tuple[Planes, Reference]) -> None:
    scene, reference = installed
    for name in ("coffee.png", "astronaut.png", "motorcycle_left.png"):
        planes = _scene(name)
        later = _noisy(planes, 1)
        ref = reference if name == "coffee.png" else reference_picture(*planes, POLICY)
        result = diagnose(*later, POLICY, earlier_y=planes[0], reference=ref)
        assert result.findings == [], (name, result)
    assert diagnose(*_noisy(scene, 2), POLICY, earlier_y=scene[0], reference=reference).moved_px is not None


def test_black_picture(installed: tuple[Planes, Reference]) -> None:
    scene, reference = installed
    y = np.full_like(scene[0], 16)  # video-range black: the lens capped or the sensor dead
    u, v = np.full_like(scene[1], 128), np.full_like(scene[2], 128)
    assert diagnose(y, u, v, POLICY, reference=reference).findings == ["black"]


def test_frozen_picture(installed: tuple[Planes, Reference]) -> None:
    scene, reference = installed
    # Frames keep arriving but carry the same picture: the encoder or the camera hung.
    assert diagnose(*scene, POLICY, earlier_y=scene[0].copy(), reference=reference).findings == ["frozen"]


def test_covered_camera(installed: tuple[Planes, Reference]) -> None:
    scene, reference = installed
    y, u, v = (p.copy() for p in _noisy(scene, 3))
    # A sheet of paper held over most of the lens.
    y[:, : W * 3 // 4] = 200
    u[:, : W * 3 // 8] = 128
    v[:, : W * 3 // 8] = 128
    result = diagnose(y, u, v, POLICY, earlier_y=scene[0], reference=reference)
    assert "occluded" in result.findings and "moved" not in result.findings


def test_moved_camera(installed: tuple[Planes, Reference]) -> None:
    _, reference = installed
    # The camera knocked sideways: the same room, seen from 10% further left.
    wide = image_to_i420(photo("coffee.png"), W * 11 // 10 // 2 * 2, H * 11 // 10 // 2 * 2)
    dx, dy = W // 10, H // 20
    y = np.ascontiguousarray(wide[0][dy : dy + H, dx : dx + W])
    u = np.ascontiguousarray(wide[1][dy // 2 : dy // 2 + H // 2, dx // 2 : dx // 2 + W // 2])
    v = np.ascontiguousarray(wide[2][dy // 2 : dy // 2 + H // 2, dx // 2 : dx // 2 + W // 2])
    result = diagnose(y, u, v, POLICY, reference=reference)
    assert result.findings == ["moved"], result


def test_colour_cast(installed: tuple[Planes, Reference]) -> None:
    scene, reference = installed
    y, u, v = _noisy(scene, 4)
    red = np.clip(v.astype(np.int16) + 35, 0, 255).astype(np.uint8)  # a failing white balance
    result = diagnose(y, u, red, POLICY, earlier_y=scene[0], reference=reference)
    assert result.findings == ["colour_cast"] and result.colour_cast is not None
    # Without a reference a warm room is not a cast, but a picture gone all one colour is.
    assert diagnose(*scene, POLICY).findings == []
    grey = _scene("moon.png")
    assert diagnose(
        grey[0], np.clip(grey[1].astype(np.int16) + 40, 0, 255).astype(np.uint8), grey[2], POLICY
    ).findings == ["colour_cast"]


def test_too_dark_and_too_bright(installed: tuple[Planes, Reference]) -> None:
    scene, _ = installed
    y, u, v = scene
    dark = (y.astype(np.float32) * 0.25 + 12).astype(np.uint8)  # lights off in the room
    assert "too_dark" in diagnose(dark, u, v, POLICY).findings
    bright = np.clip(y.astype(np.int16) + 140, 0, 255).astype(np.uint8)  # sun straight into the lens
    assert "too_bright" in diagnose(bright, u, v, POLICY).findings


def test_snapshot_is_a_small_jpeg(installed: tuple[Planes, Reference]) -> None:
    scene, _ = installed
    data = snapshot_jpeg(*scene, 320, 24_000)
    assert data[:2] == b"\xff\xd8" and 0 < len(data) <= 24_000
    assert len(snapshot_jpeg(*scene, 320, 3_000)) <= 3_000
