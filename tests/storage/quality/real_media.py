"""Real photographs and real speech recordings, as installed packages ship them.

Photographs (PyPI ``scikit-image``, pinned in the ``test`` extra; files in ``skimage/data``):
- ``astronaut.png``: NASA portrait of astronaut Eileen Collins (public domain), a frontal face.
- ``lfw_subset.npy``: 200 grey 25x25 crops from the Labeled Faces in the Wild data set, the first
  100 faces of 100 different people, the other 100 patches of the same photographs without a face.
- Photographs without a person: ``coffee.png`` (a cup on a table: the empty desk), ``chelsea.png``
  (a cat's face), ``rocket.jpg``, ``motorcycle_left.png``, ``horse.png``, ``brick.png``,
  ``grass.png``, ``gravel.png``, ``coins.png``, ``moon.png``, ``hubble_deep_field.jpg``,
  ``page.png``, ``text.png``, ``cell.png``, ``ihc.png``, ``retina.jpg``, ``color.png``.

Speech (Debian packages, installed by ``scripts/sysdeps.sh`` for the tests):
- ``pocketsphinx-testdata``: read English (LibriVox "Sense and Sensibility" excerpts, 16 kHz),
  card names, numbers and commands by several speakers (``/usr/share/pocketsphinx/test/data``).
- ``asterisk-core-sounds-en-gsm``: about 360 telephone prompts recorded by one speaker (Allison
  Smith), 8 kHz GSM (``/usr/share/asterisk/sounds/en_US_f_Allison``).
- ``alsa-utils`` and ``sound-theme-freedesktop``: recorded voices naming loudspeaker positions.
Sounds that are not speech, for the negatives: ``sound-theme-freedesktop``'s bells, chimes,
alarms and ring tones, ``alsa-utils``' ``Noise.wav``; tones, chords, a melody and noise made here.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from branch_agent.sources.synthetic_media import load_sound

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ALSA = Path("/usr/share/sounds/alsa")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")

PHOTOS_WITHOUT_PEOPLE = (
    "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "horse.png", "brick.png", "grass.png",
    "gravel.png", "coins.png", "moon.png", "hubble_deep_field.jpg", "page.png", "text.png", "cell.png",
    "ihc.png", "retina.jpg", "color.png",
)  # fmt: skip


def _need(path: Path, package: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path} not found: install {package} (scripts/sysdeps.sh installs it for the tests)")
    return path


@cache
def skimage_data() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-image is not installed: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photo(name: str) -> np.ndarray:
    """An RGB photograph from scikit-image's data."""
    return np.asarray(Image.open(_need(skimage_data() / name, "scikit-image")).convert("RGB"))


@cache
def lfw() -> tuple[np.ndarray, np.ndarray]:
    """(100 faces, 100 patches without a face), grey uint8 25x25."""
    crops = np.load(_need(skimage_data() / "lfw_subset.npy", "scikit-image"))
    crops = (crops * 255).round().astype(np.uint8)
    return crops[:100], crops[100:]


def speech_files() -> list[Path]:
    """Real speech recordings, each a few seconds of one speaker."""
    root = _need(POCKETSPHINX, "pocketsphinx-testdata")
    files = sorted((root / "librivox").glob("*.wav")) + sorted((root / "cards").glob("*.wav"))
    files += [root / "goforward.raw", root / "numbers.raw", root / "something.raw"]
    prompts = sorted(_need(ASTERISK, "asterisk-core-sounds-en-gsm").glob("*.gsm"))
    files += [p for p in prompts if p.stat().st_size >= 6000][::6]  # prompts of over ~2 s
    files += sorted(_need(ALSA, "alsa-utils").glob("[FRS]*_*.wav"))
    files += sorted(_need(FREEDESKTOP, "sound-theme-freedesktop").glob("audio-channel-*.oga"))
    return files


def non_speech_files() -> list[Path]:
    sounds = [
        p for p in sorted(_need(FREEDESKTOP, "sound-theme-freedesktop").glob("*.oga")) if "audio-channel" not in p.name
    ]
    return sounds + [_need(ALSA / "Noise.wav", "alsa-utils")]


def sound(path: Path, rate: int = 48000) -> np.ndarray:
    """Mono int16 at ``rate``; the pocketsphinx ``.raw`` files are headerless 16 kHz int16."""
    if path.suffix == ".raw":
        raw = np.fromfile(path, dtype="<i2").astype(np.float64)
        positions = np.arange(0, len(raw), 16000 / rate)
        return np.interp(positions, np.arange(len(raw)), raw).astype(np.int16)
    return load_sound(path, rate)


@cache
def speech_track(seconds: float, rate: int = 48000) -> np.ndarray:
    """Real read speech, the LibriVox excerpts one after another, looped to ``seconds``."""
    root = _need(POCKETSPHINX / "librivox", "pocketsphinx-testdata")
    parts = np.concatenate([sound(p, rate) for p in sorted(root.glob("*.wav"))])
    n = int(seconds * rate)
    return np.resize(parts, n).astype(np.int16)


def synthetic_non_speech(rate: int = 16000, seconds: float = 2.0) -> dict[str, np.ndarray]:
    """Tones, a chord, a melody, hum and noise: sounds a VAD must not take for voice (float, -1..1)."""
    rng = np.random.default_rng(7)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    pink = np.fft.irfft(spectrum, n)
    note = int(rate * 0.25)
    melody = np.concatenate(
        [
            sum(0.5**k * np.sin(2 * np.pi * f * (k + 1) * t[:note]) for k in range(5)) * np.exp(-t[:note] * 4)
            for f in (261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3)
        ]
    )
    sounds = {
        "tone-1k": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "tone-440": 0.3 * np.sin(2 * np.pi * 440 * t),
        "chord": 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
        "melody": 0.15 * np.resize(melody, n),
        "hum": 0.2 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t),
        "sweep": 0.3 * np.sin(2 * np.pi * (200 + 1500 * t / seconds) * t),
        "white-noise": 0.1 * white,
        "pink-noise": 0.1 * pink / pink.std(),
        "silence": np.zeros(n),
    }
    return {k: v.astype(np.float32) for k, v in sounds.items()}
