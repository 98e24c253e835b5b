"""Branch configuration: the examples load; mistakes are named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from branch_agent.config import load_branch_config
from center_platform.config import load_center_config
from storage.config_file import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_example_and_compose_configs_load() -> None:
    cfg = load_branch_config(REPO / "configs" / "branch.example.toml")
    assert [c.code for c in cfg.counters] == ["C01"]
    assert cfg.counters[0].desk.width == 720 and cfg.counters[0].desk.height == 576
    assert load_branch_config(REPO / "configs" / "compose" / "branch.toml").center.url == "http://center:8700"
    assert load_center_config(REPO / "configs" / "compose" / "center.toml").storage.mode == "external"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('window_start = "19:00"', 'window_start = "7pm"'), "invalid value for 'upload.window_start'"),
        (('kind = "tone"', 'kind = "bluetooth"'), "invalid value for 'counters.0.microphone.kind'"),
        (("[recorder]", "[recorder]\nbitrate = 4000"), "unknown key 'recorder.bitrate'"),
        (('code = "B001"', 'code = "B 001"'), "invalid value for 'branch.code'"),
    ],
)
def test_mistake_is_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = (REPO / "configs" / "branch.example.toml").read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "branch.toml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_branch_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)
