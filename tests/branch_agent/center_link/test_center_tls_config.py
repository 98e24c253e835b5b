"""The branch talks to the center over TLS: plain http only to a loopback address (the embedded demo)
or where the operator has written `allow_plain_http = true`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from branch_agent.config import CenterSection, load_branch_config

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "url",
    [
        "https://center.bank.example:8443",
        "http://127.0.0.1:8700",
        "http://localhost:8700",
        "http://[::1]:8700",
        "http://127.0.0.2",
    ],
)
def test_tls_or_loopback_is_accepted(url: str) -> None:
    assert CenterSection(url=url).url == url


@pytest.mark.parametrize("url", ["http://center:8700", "http://10.1.2.3:8700", "http://localhost.evil.example"])
def test_plain_http_to_another_host_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CenterSection(url=url)
    message = str(caught.value)
    assert "allow_plain_http" in message and "明文" in message and "https" in message
    assert CenterSection(url=url, allow_plain_http=True).url == url


def test_the_example_and_compose_configs_use_https() -> None:
    for path in (REPO / "configs" / "branch.example.toml", REPO / "configs" / "compose" / "branch.toml"):
        cfg = load_branch_config(path)
        assert cfg.center.url.startswith("https://") and not cfg.center.allow_plain_http, path
        assert "allow_plain_http" in path.read_text(encoding="utf-8")  # the note that explains it
