"""Configuration fields shared by several source kinds and by the GB/T 28181 platform section."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from branch_agent.sources.kinds.spec import CameraSection
from storage.config_file import ConfigError

ENV_NAME = r"^([A-Z_][A-Z0-9_]{0,63})?$"


def secret_from_env(variable: str, what: str) -> str:
    """A camera password: only ever from the environment, never from the file."""
    if not variable:
        return ""
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"set {variable}: the password of {what}")
    return value


def gb_id(value: str, what: str) -> str:
    from branch_agent.gb28181.gb_ids import parse_gb_id

    parse_gb_id(value, what)  # InvalidGbId is a ValueError: pydantic names the key
    return value


class NetworkCameraSection(CameraSection):
    """A camera reached over the network with a username and a password from the environment."""

    username: str = Field(default="", max_length=128)
    password_env: str = Field(
        default="", pattern=ENV_NAME, description="name of the environment variable holding the password"
    )
    transport: Literal["tcp", "udp"] = "tcp"
    # Capture-to-arrival delay of this camera, measured at installation; taken off its timestamps.
    # Bounded well inside the recorder's tolerances (0.5 s audio latency, 1 s before a picture is stale).
    latency_ms: int = Field(default=0, ge=0, le=400)

    def password(self, what: str) -> str:
        return secret_from_env(self.password_env, what)
