"""A real sale clip for the center's quality tests: recorded by the recorder engine from real
photographs and read speech (``tests.storage.quality``), in the default layout's proportions at
960x540, so the center's default policy finds the desk camera's inset where it is."""

from __future__ import annotations

from pathlib import Path

from branch_agent.recorder import PipLayout
from tests.storage.quality.real_media import photo, speech_track
from tests.storage.quality.recorded import person_scene, record

SECONDS = 8


def half_hd_layout() -> PipLayout:
    """The default 1920x1080 layout at half its size: the inset at the same fractions."""
    return PipLayout(output_width=960, output_height=540, inset_width=240, inset_height=192, margin=16, border_width=2)


def record_sale(path: Path, font: Path) -> bytes:
    """An 8-second sale: a face at the desk, a person in the room, someone reading aloud."""
    record(
        path,
        SECONDS,
        font,
        desk=[(0, photo("astronaut.png"))],
        env=[(0, person_scene(960, 540))],
        sound=speech_track(SECONDS + 2.0),
        layout=half_hd_layout(),
    )
    return path.read_bytes()


def cjk_font_path() -> Path:
    """The burned-in text's font; DR_TEST_CJK_FONT overrides the Debian default."""
    import os

    import pytest

    path = Path(os.environ.get("DR_TEST_CJK_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"))
    if not path.is_file():
        pytest.fail(f"CJK font {path} not found; install fonts-wqy-microhei or set DR_TEST_CJK_FONT")
    return path
