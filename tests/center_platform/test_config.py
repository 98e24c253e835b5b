"""Configuration mistakes stop start-up with one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from center_platform.config import load_center_config
from storage.config_file import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_example_center_config_loads() -> None:
    cfg = load_center_config(REPO / "configs" / "center.example.toml")
    assert cfg.storage.mode == "embedded"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 8700\n", "unknown key 'server.prot'"),
        ("[storage]\npart_size_mb = 1\n", "invalid value for 'storage.part_size_mb'"),
        ("[server]\ntimezone = 'Mars/Olympus'\n", "invalid value for 'server.timezone'"),
        ("[storage]\nmode = 'external'\n", "endpoint_url is required"),
    ],
)
def test_bad_key_is_named_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "center.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_center_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_exits_with_the_one_line(tmp_path: Path) -> None:
    path = tmp_path / "center.toml"
    path.write_text("[database]\nurl = 'x'\npassword = 'y'\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "center_platform", "--config", str(path), "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}: unknown key 'database.password'"
