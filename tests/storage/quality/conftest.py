"""Fixtures of the quality check's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@pytest.fixture(scope="session")
def cjk_font() -> Path:
    """The burned-in text's font; DR_TEST_CJK_FONT overrides the Debian default."""
    path = Path(os.environ.get("DR_TEST_CJK_FONT", _DEFAULT_FONT))
    if not path.is_file():
        pytest.fail(f"CJK font {path} not found; install fonts-wqy-microhei or set DR_TEST_CJK_FONT")
    return path
