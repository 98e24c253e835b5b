"""`serve` takes its port before anything else starts, and a taken port is a clear error."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from center_platform.cli import main


def test_a_taken_port_stops_serve_with_the_port_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = tmp_path / "center.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{tmp_path / "center"}"\n', encoding="utf-8"
        )
        assert main(["--config", str(config), "serve"]) == 2
    err = capsys.readouterr().err
    assert f"server.port {port} on 127.0.0.1 is not available" in err
    # Refused before the embedded store was started: it left nothing behind.
    assert not (tmp_path / "center" / "storage").exists()
