"""The source registry is the one list of kinds: every kind it holds is accepted by the configuration in
the roles it serves (and only there) and built by the counter, and the kinds registered with sound
are exactly the ones whose sound the counter can take."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from branch_agent.config import load_branch_config
from branch_agent.counter.sources import CounterSources, build_sources
from branch_agent.sources.kinds.spec import (
    CAMERA_ROLES,
    CameraKind,
    CameraRequest,
    GbPlatformAccess,
    MicrophoneKind,
    Role,
)
from branch_agent.sources.registry import KINDS, build_camera, camera_kind_of, kind_of, kinds_for
from branch_agent.sources.shared_feed import FeedAudioSource, FeedVideoSource
from storage.config_file import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "configs" / "branch.example.toml"

# The smallest valid section of each kind. Nothing is opened: building a source connects to nothing.
SECTIONS = {
    "synthetic": '{ kind = "synthetic", width = 320, height = 240, fps = 5 }',
    "onvif": '{ kind = "onvif", host = "192.0.2.10", username = "recorder", password_env = "REGISTRY_CAM_PASSWORD" }',
    "v4l2": '{ kind = "v4l2", device = "/dev/video9" }',
    "rtsp": '{ kind = "rtsp", url = "rtsp://192.0.2.11/live" }',
    "file": '{ kind = "file", path = "clip.mp4" }',
    "gb28181": '{ kind = "gb28181", device_id = "34020000001320000001", channel_id = "34020000001310000001" }',
    "tone": '{ kind = "tone" }',
    "alsa": '{ kind = "alsa", device = "hw:9,0" }',
    "camera": '{ kind = "camera", camera = "environment" }',
}
GB_PLATFORM = """
[gb28181]
server_id = "34020000002000000001"
domain = "3402000000"
host = "127.0.0.1"
port = 0
password_env = "REGISTRY_GB_PASSWORD"
"""
CAMERA_KINDS = [k for k in KINDS if isinstance(k, CameraKind)]
MICROPHONE_KINDS = [k for k in KINDS if isinstance(k, MicrophoneKind)]


def _name(value: object) -> str:
    return value.name if isinstance(value, CameraKind | MicrophoneKind) else str(value)


@pytest.fixture(autouse=True)
def _passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_CAM_PASSWORD", "not-a-real-one")
    monkeypatch.setenv("REGISTRY_GB_PASSWORD", "not-a-real-one")


def _config(tmp_path: Path, **roles: str) -> Path:
    """The example configuration with some of the counter's sections replaced."""
    (tmp_path / "clip.mp4").write_bytes(b"")  # a file camera's file must exist, not be played
    lines = []
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        key = line.split(" = ", 1)[0]
        if key in roles:
            line = f"{key} = {roles[key]}"
        elif key == "data_dir":
            line = f'data_dir = "{tmp_path / "branch"}"'
        elif line == "[[counters]]":
            line = GB_PLATFORM + "\n" + line
        lines.append(line)
    path = tmp_path / "branch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _built(path: Path) -> CounterSources:
    config = load_branch_config(path)
    return build_sources(config, config.counters[0])


def test_every_registered_kind_is_covered_here() -> None:
    # A new kind needs its sample section above; then every test below covers it.
    assert sorted(SECTIONS) == sorted(kind.name for kind in KINDS)


@pytest.mark.parametrize("role", list(Role))
def test_an_unknown_kind_is_named_with_the_registered_kinds_of_its_role(tmp_path: Path, role: Role) -> None:
    expected = ", ".join(f"'{kind.name}'" for kind in kinds_for(role))
    with pytest.raises(ConfigError, match=f"counters.0.{role}': .*expected tags: {expected}$") as err:
        load_branch_config(_config(tmp_path, **{role: '{ kind = "bluetooth" }'}))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kind", CAMERA_KINDS, ids=_name)
@pytest.mark.parametrize("role", CAMERA_ROLES, ids=_name)
def test_a_camera_kind_is_accepted_and_built_in_the_roles_it_serves_only(
    tmp_path: Path, kind: CameraKind, role: Role
) -> None:
    path = _config(tmp_path, **{role: SECTIONS[kind.name]})
    if role not in kind.roles:
        with pytest.raises(ConfigError, match=f"'{kind.name}' found using 'kind' does not match"):
            load_branch_config(path)
        return
    config = load_branch_config(path)
    assert camera_kind_of(config.counters[0].camera(role)) is kind
    sources = build_sources(config, config.counters[0])
    health = getattr(sources, role).health()
    assert health.kind == kind.name and not health.connected


@pytest.mark.parametrize("kind", MICROPHONE_KINDS, ids=_name)
def test_a_microphone_kind_is_accepted_and_built(tmp_path: Path, kind: MicrophoneKind) -> None:
    # An environment camera with sound, for the microphone that is a camera's sound.
    path = _config(tmp_path, environment=SECTIONS["rtsp"], microphone=SECTIONS[kind.name])
    config = load_branch_config(path)
    assert kind_of(config.counters[0].microphone) is kind
    sources = build_sources(config, config.counters[0])
    assert sources.microphone.health().kind == ("rtsp" if kind.name == "camera" else kind.name)


@pytest.mark.parametrize(
    ("kind", "role"), [(k, r) for k in CAMERA_KINDS for r in CAMERA_ROLES if r in k.roles], ids=_name
)
def test_the_counter_takes_the_sound_of_exactly_the_kinds_registered_with_sound(
    tmp_path: Path, kind: CameraKind, role: Role
) -> None:
    path = _config(tmp_path, **{role: SECTIONS[kind.name], "microphone": f'{{ kind = "camera", camera = "{role}" }}'})
    if not kind.carries_sound:
        with pytest.raises(ConfigError, match=f"but a {kind.name} camera has no sound; use a {role} camera of kind"):
            load_branch_config(path)
        return
    sources = _built(path)
    camera, microphone = getattr(sources, role), sources.microphone
    # One connection for picture and sound: the microphone is a view of the camera's own feed.
    assert isinstance(camera, FeedVideoSource) and isinstance(microphone, FeedAudioSource)
    assert microphone.feed is camera.feed
    assert microphone.health().kind == kind.name


@pytest.mark.parametrize("kind", [k for k in CAMERA_KINDS if not k.carries_sound], ids=_name)
def test_the_registry_refuses_the_sound_of_a_kind_without_it(tmp_path: Path, kind: CameraKind) -> None:
    role = min(kind.roles)
    config = load_branch_config(_config(tmp_path, **{role: SECTIONS[kind.name]}))
    request = CameraRequest(role, "cam", "the test camera", want_sound=True, site=_NoSite())
    with pytest.raises(ValueError, match=f"the test camera: a {kind.name} camera has no sound to give"):
        build_camera(config.counters[0].camera(role), request)


class _NoSite:
    font_path = ""

    def gb_platform(self) -> GbPlatformAccess:
        raise AssertionError("a camera without sound is refused before it is built")


def test_the_example_documents_the_registered_kinds() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    documented = re.search(r"#   environment: (.+?)\s+desk: (.+)\n#   microphone:  (.+?) \(", text)
    assert documented is not None
    for role, listed in zip((Role.ENVIRONMENT, Role.DESK, Role.MICROPHONE), documented.groups(), strict=True):
        assert listed.split(" | ") == [kind.name for kind in kinds_for(role)], role
