"""The result of a clip's quality check: a verdict, what was found where, and what was measured.

JSON in and out (``model_dump(mode="json")`` / ``QualityReport.model_validate_json``), so that the
same report goes into the manifest's catalogue row, the heartbeat and the counter UI. Messages are
Chinese first and English second, like the rest of the product.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.quality.policy import FindingCode, QualityPolicy

Severity = Literal["fail", "warn"]
Subject = Literal["desk", "environment", "microphone", "clip"]
Verdict = Literal["pass", "fail"]

SUBJECT_NAMES: dict[str, tuple[str, str]] = {
    "desk": ("桌面摄像机", "desk camera"),
    "environment": ("环境摄像机", "environment camera"),
    "microphone": ("拾音器", "microphone"),
    "clip": ("录像", "recording"),
}

# (Chinese, English) per code; {who_zh}/{who_en} name the subject, other fields come with the finding.
MESSAGES: dict[FindingCode, tuple[str, str]] = {
    "no_face": ("{who_zh}画面中未检测到人脸{share_zh}", "no face in the {who_en} picture{share_en}"),
    "no_person": ("{who_zh}画面中未检测到人员{share_zh}", "no person in the {who_en} picture{share_en}"),
    "no_speech": ("未检测到人声{share_zh}", "no speech{share_en}"),
    "silent": ("没有声音（电平低于 {level} dBFS）", "silence (level below {level} dBFS)"),
    "clipped": ("声音过载削波", "sound overdriven (clipped)"),
    "quiet": ("人声音量过低（{level} dBFS）", "voice too quiet ({level} dBFS)"),
    "black": ("{who_zh}画面全黑", "{who_en} picture black"),
    "frozen": ("{who_zh}画面静止不动", "{who_en} picture frozen"),
    "blurred": ("{who_zh}画面模糊", "{who_en} picture blurred"),
    "too_dark": ("{who_zh}画面过暗", "{who_en} picture too dark"),
    "too_bright": ("{who_zh}画面过亮", "{who_en} picture too bright"),
    "occluded": ("{who_zh}画面被遮挡", "{who_en} picture covered"),
    "gap": ("{who_zh}（{source}）中断 {duration} 秒", "{who_en} ({source}) dropped out for {duration} s"),
    "interrupted": ("录像意外中断，未正常完成", "recording was cut off, not completed"),
    "too_short": (
        "录像时长 {duration} 秒，短于产品要求的 {minimum} 秒",
        "recording lasts {duration} s, shorter than the product's {minimum} s",
    ),
    "desync": ("声音与画面不同步，相差 {offset} 秒", "sound and picture out of step by {offset} s"),
    "marker_missing": ("缺少必录环节「{name}」", "required moment “{name}” is missing"),
    "marker_order": (
        "必录环节顺序错误：「{first}」应在「{then}」之前",
        "required moments out of order: “{first}” must come before “{then}”",
    ),
    "consent_missing": (
        "录像中未记录客户同意录音录像",
        "the customer's consent to be recorded is not on the recording",
    ),
    "unreadable": ("无法读取录像：{error}", "clip cannot be read: {error}"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Model):
    code: FindingCode
    severity: Severity
    subject: Subject
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    message_zh: str
    message_en: str

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


def finding(
    code: FindingCode, severity: Severity, subject: Subject, start_s: float, end_s: float, **values: object
) -> Finding:
    """A finding with its messages filled in from ``MESSAGES``."""
    zh, en = MESSAGES[code]
    who_zh, who_en = SUBJECT_NAMES[subject]
    fields = {"who_zh": who_zh, "who_en": who_en, "share_zh": "", "share_en": "", **values}
    start = round(max(0.0, start_s), 3)
    return Finding(
        code=code,
        severity=severity,
        subject=subject,
        start_s=start,
        end_s=round(max(start, end_s), 3),
        message_zh=zh.format(**fields),
        message_en=en.format(**fields),
    )


class LevelStats(_Model):
    """Sound level per second, in dBFS (0 is full scale; digital silence is reported as -120)."""

    mean_rms_dbfs: float | None = None
    speech_rms_dbfs: float | None = None  # median over the seconds with speech
    noise_floor_dbfs: float | None = None  # 10th percentile over all seconds
    max_peak_dbfs: float | None = None
    silent_seconds: int = 0
    clipped_seconds: int = 0


class Measurements(_Model):
    video_duration_s: float
    audio_duration_s: float | None
    video_samples: int
    audio_seconds: int
    face_share: float | None  # of the samples, a face in the desk camera's inset
    person_share: float | None  # of the samples, a person in the environment picture
    speech_share: float | None  # of the seconds, a voice
    levels: LevelStats


class Cost(_Model):
    cpu_s: float
    wall_s: float


class QualityReport(_Model):
    analyser_version: str
    clip_file: str
    duration_s: float
    verdict: Verdict
    findings: list[Finding]
    measurements: Measurements
    policy: QualityPolicy
    cost: Cost
    analysed_at: datetime

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fail"]

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}
