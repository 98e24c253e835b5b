"""Accuracy of the check's detectors on a labelled set built from real photographs and recordings.

Sources: see ``real_media`` (scikit-image's photographs and Labeled Faces in the Wild crops; speech
from Debian's pocketsphinx, Asterisk, ALSA and freedesktop sound packages). Pictures are composed
the way the recorder lays them out: the desk camera's picture scaled into the inset of the default
1920x1080 layout by the recorder's own compositor, with the burned-in text, and measured by the
check's own code on the luma plane; the environment picture fills the background. Sounds go
through the check's voice detector at 16 kHz with a little room noise added.

Each test prints precision, recall and false positive rate and holds them to a floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from branch_agent.recorder import OverlayRenderer, PipCompositor, PipLayout, sale_overlay
from branch_agent.sources import VideoFrame
from branch_agent.sources.synthetic_media import image_to_i420
from storage.quality import DEFAULT_INSET, QualityPolicy, Region
from storage.quality.measure import ClipMeasurer
from storage.quality.sound import VoiceDetector
from tests.storage.quality.real_media import (
    PHOTOS_WITHOUT_PEOPLE,
    lfw,
    non_speech_files,
    photo,
    sound,
    speech_files,
    synthetic_non_speech,
)
from tests.storage.quality.recorded import TZ

# Hundreds of real photos and recordings through the detectors: minutes of CPU, so run with the long tests.
pytestmark = pytest.mark.slow

RECALL_FLOOR = 0.9
FALSE_POSITIVE_CEILING = 0.1
DESK_SIZE = (720, 576)


@dataclass
class Score:
    name: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def add(self, truth: bool, said: bool) -> None:
        if truth:
            self.tp += said
            self.fn += not said
        else:
            self.fp += said
            self.tn += not said

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def false_positive_rate(self) -> float:
        return self.fp / max(1, self.fp + self.tn)

    def line(self) -> str:
        return (
            f"{self.name}: {self.tp + self.fn} positives, {self.fp + self.tn} negatives; "
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, false positive rate "
            f"{self.false_positive_rate:.3f} (tp {self.tp}, fn {self.fn}, fp {self.fp}, tn {self.tn})"
        )


def _frame(rgb: np.ndarray, width: int, height: int) -> VideoFrame:
    y, u, v = image_to_i420(rgb, width, height)
    return VideoFrame(y=y, u=u, v=v, pts_ns=0)


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def _desk_scene(face: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A desk camera's picture: a face crop enlarged to ``side`` pixels on a plain wall, off centre."""
    w, h = DESK_SIZE
    wall = np.full((h, w, 3), int(rng.integers(90, 170)), dtype=np.uint8)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    x0 = int(rng.integers(w // 8, w - side - w // 8))
    y0 = int(rng.integers(h // 10, h - side - h // 10))
    wall[y0 : y0 + side, x0 : x0 + side] = _grey_rgb(big) if big.ndim == 2 else big
    return wall


class Composer:
    """The recorder's compositor and burned-in text at the default layout, and the check's measurer."""

    def __init__(self, font: str) -> None:
        self.layout = PipLayout()
        self.compositor = PipCompositor(self.layout)
        self.overlay = OverlayRenderer(font)
        self.text = sale_overlay("示范支行", "理财柜台 1", "1000001", "SN20261204001", TZ)(datetime.now(UTC))
        self.policy = QualityPolicy(person_every=1)
        self.measurer = ClipMeasurer(self.policy)
        self.neutral_env = _frame(photo("brick.png"), self.layout.output_width, self.layout.output_height)
        self.neutral_desk = _frame(photo("coffee.png"), *DESK_SIZE)

    def _compose(self, env: VideoFrame, desk: VideoFrame) -> np.ndarray:
        y, u, v = self.compositor.compose(env, desk)
        self.overlay.apply(y, u, v, self.text)
        return y

    def faces(self, desk_rgb: np.ndarray) -> int:
        """Faces in the inset, as the check counts them, with the desk camera showing ``desk_rgb``."""
        return self.measurer.faces_in(self._compose(self.neutral_env, self.desk(desk_rgb)))

    def persons(self, env_rgb: np.ndarray) -> int:
        """People in the environment picture, as the check counts them."""
        return self.measurer.persons_in(self._compose(self.env(env_rgb), self.neutral_desk))

    def desk(self, rgb: np.ndarray) -> VideoFrame:
        return _frame(rgb, *DESK_SIZE)

    def env(self, rgb: np.ndarray) -> VideoFrame:
        return _frame(rgb, self.layout.output_width, self.layout.output_height)


@pytest.fixture(scope="module")
def composer(cjk_font) -> Composer:
    return Composer(str(cjk_font))


def test_default_policy_crops_the_inset_where_the_recorders_default_layout_puts_it():
    lay = PipLayout()
    x, y = lay.inset_origin()
    expected = Region.from_pixels(x, y, lay.inset_width, lay.inset_height, lay.output_width, lay.output_height)
    assert DEFAULT_INSET.pixels(1920, 1080) == expected.pixels(1920, 1080)


def _desk_items(rng: np.random.Generator) -> Iterator[tuple[str, bool, np.ndarray]]:
    faces, patches = lfw()
    for i, face in enumerate(faces):
        yield f"lfw-face-{i}", True, _desk_scene(face, int(rng.integers(180, 300)), rng)
    astronaut = photo("astronaut.png")
    # Her face 95 to 150 px wide in the 720x576 desk picture (dlib needs about 80 px in the inset).
    for i, (zoom, dx) in enumerate([(1.0, 0), (1.3, -60), (1.3, 60), (1.6, 0), (1.15, 0)]):
        w, h = DESK_SIZE
        side = int(h * zoom)
        big = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
        canvas = np.full((max(h, side), max(w, side) + 200, 3), 128, np.uint8)
        x0 = (canvas.shape[1] - side) // 2 + dx
        canvas[:side, x0 : x0 + side] = big
        yield f"astronaut-{i}", True, canvas
        yield f"astronaut-mirrored-{i}", True, canvas[:, ::-1].copy()
    for i, patch in enumerate(patches):
        yield f"lfw-no-face-{i}", False, _desk_scene(patch, int(rng.integers(180, 300)), rng)
    for name in PHOTOS_WITHOUT_PEOPLE:
        yield name, False, photo(name)
    yield "black", False, np.zeros((576, 720, 3), np.uint8)
    yield "grey", False, np.full((576, 720, 3), 128, np.uint8)
    yield "noise", False, rng.integers(0, 256, (576, 720, 3), dtype=np.uint8)


def test_face_in_the_desk_inset_found_in_real_faces_and_not_elsewhere(composer):
    rng = np.random.default_rng(20261204)
    score = Score("face in the desk inset (dlib HOG)")
    missed: list[str] = []
    for name, truth, rgb in _desk_items(rng):
        faces = composer.faces(rgb)
        score.add(truth, faces > 0)
        if truth != (faces > 0):
            missed.append(name)
    print("\n" + score.line() + f"; wrong: {missed}")
    assert score.recall >= RECALL_FLOOR
    assert score.false_positive_rate <= FALSE_POSITIVE_CEILING


def _env_items(rng: np.random.Generator) -> Iterator[tuple[str, bool, np.ndarray]]:
    """People (a face of 120 to 240 px in the 1080p picture) in front of photographed walls and ground."""
    faces, patches = lfw()
    grounds = [cv2.resize(photo(n), (1920, 1080)) for n in ("brick.png", "gravel.png", "grass.png", "coffee.png")]
    # Where a person may stand: left of the inset and below the burned-in text.
    for i in range(0, 100, 2):
        yield f"lfw-person-{i}", True, _env_scene(faces[i], grounds[i % 4], rng)
        yield f"lfw-no-person-{i}", False, _env_scene(patches[i], grounds[i % 4], rng)
    astronaut = photo("astronaut.png")
    for i, side in enumerate((740, 880, 1020)):  # the face 130 to 180 px wide
        ground = grounds[i % 4].copy()
        big = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
        x0 = 60 + 150 * i
        ground[1080 - side :, x0 : x0 + side] = big
        yield f"astronaut-{side}", True, ground
    for name in PHOTOS_WITHOUT_PEOPLE:
        yield name, False, photo(name)


def _env_scene(crop: np.ndarray, ground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scene = ground.copy()
    side = int(rng.integers(150, 300))  # the face crop is the face itself: 120-240 px with its frame
    big = _grey_rgb(cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC))
    x0 = int(rng.integers(40, 1300 - side))
    y0 = int(rng.integers(260, 1040 - side))
    scene[y0 : y0 + side, x0 : x0 + side] = big
    return scene


def test_person_in_the_environment_picture_found_in_real_faces_and_not_elsewhere(composer):
    rng = np.random.default_rng(4)
    score = Score("person in the environment picture (dlib HOG, faces)")
    missed: list[str] = []
    for name, truth, rgb in _env_items(rng):
        persons = composer.persons(rgb)
        score.add(truth, persons > 0)
        if truth != (persons > 0):
            missed.append(name)
    print("\n" + score.line() + f"; wrong: {missed}")
    assert score.recall >= RECALL_FLOOR
    assert score.false_positive_rate <= FALSE_POSITIVE_CEILING


def _voiced(vad: VoiceDetector, samples: np.ndarray, policy: QualityPolicy) -> bool:
    """The check's rule for one excerpt: its share of voiced 32 ms frames reaches speech_frame_share."""
    vad.reset()
    scores = np.array(vad.scores(samples))
    return bool(scores.size) and float(np.mean(scores >= policy.vad_threshold)) >= policy.speech_frame_share


def _excerpts(x: np.ndarray, rate: int = 16000, seconds: float = 2.0) -> list[np.ndarray]:
    n = int(rate * seconds)
    if len(x) < n:
        x = np.concatenate([x, np.zeros(n - len(x), np.float32)])
    return [x[i : i + n] for i in range(0, len(x) - n + 1, n)]


def test_speech_told_from_tones_chimes_music_and_noise():
    policy = QualityPolicy()
    vad = VoiceDetector()
    rng = np.random.default_rng(11)
    room = 0.003  # about -50 dBFS of room noise under everything

    def prepared(x: np.ndarray) -> np.ndarray:
        return (x + room * rng.standard_normal(len(x))).astype(np.float32)

    score = Score("speech (Silero VAD)")
    wrong: list[str] = []
    for path in speech_files():
        for k, part in enumerate(_excerpts(sound(path, 16000).astype(np.float32) / 32768)):
            said = _voiced(vad, prepared(part), policy)
            score.add(True, said)
            if not said:
                wrong.append(f"{path.name}#{k}")
    negatives = {p.name: sound(p, 16000).astype(np.float32) / 32768 for p in non_speech_files()}
    negatives.update(synthetic_non_speech())
    for name, x in negatives.items():
        for k, part in enumerate(_excerpts(x)):
            said = _voiced(vad, prepared(part), policy)
            score.add(False, said)
            if said:
                wrong.append(f"{name}#{k}")
    print("\n" + score.line() + f"; wrong: {wrong}")
    assert score.tp + score.fn >= 100 and score.fp + score.tn >= 30
    assert score.recall >= RECALL_FLOOR
    assert score.false_positive_rate <= FALSE_POSITIVE_CEILING
