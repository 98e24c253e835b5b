"""The check's data and bookkeeping without a clip: policy, manifest facts, stretches, the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from storage.manifest import ClipManifest
from storage.quality import (
    CHECKS,
    DefectRule,
    ManifestFacts,
    QualityPolicy,
    Region,
    marker_key,
    register,
    report_from,
)
from storage.quality.checks import stretches
from storage.quality.measure import Evidence
from storage.quality.media import StreamSpan
from storage.quality.report import Finding, finding
from storage.quality.sound import SoundMeter, SoundSeconds
from storage.quality.vision import PictureStats


def test_consecutive_bad_samples_merge_into_one_stretch():
    spans = [(float(t), float(t + 1)) for t in range(8)]
    flags = [False, True, True, False, True, False, True, True]
    assert stretches(flags, spans) == [(1.0, 3.0), (4.0, 5.0), (6.0, 8.0)]
    assert stretches([], []) == []


def test_a_region_scales_with_the_picture():
    r = Region.from_pixels(1404, 660, 480, 384, 1920, 1080)
    assert r.pixels(1920, 1080) == (1404, 660, 1884, 1044)
    assert r.pixels(960, 540) == (702, 330, 942, 522)


def test_policy_reads_back_from_json_and_refuses_missing_rules():
    policy = QualityPolicy().for_product(["风险揭示", "客户确认"], 120)
    assert QualityPolicy.model_validate_json(policy.model_dump_json()) == policy
    assert policy.required_markers == ("风险揭示", "客户确认") and policy.min_duration_s == 120
    with pytest.raises(ValidationError, match="rules missing"):
        QualityPolicy(rules={"black": DefectRule(min_s=1)})
    with pytest.raises(ValidationError):
        QualityPolicy(sample_hz=5)


def test_manifest_marker_kinds_and_the_catalogues_labels_name_the_same_moment():
    assert marker_key("risk_disclosed") == marker_key("风险揭示") == marker_key(" Risk  disclosed ")
    assert marker_key("customer_confirmed") == marker_key("客户确认")
    assert marker_key("签字") == "signed"
    assert marker_key("产品介绍") == "产品介绍"


def test_manifest_facts_come_from_a_signed_manifests_fields():
    start = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    manifest = ClipManifest.model_validate(
        {
            "clip_id": "0123456789abcdef0123456789abcdef",
            "state": "interrupted",
            "branch_code": "B001",
            "counter_code": "C01",
            "staff_code": "1000001",
            "business_serial": "SN1",
            "customer": {"name": "张三", "id_type": "passport", "id_number": "E1", "card_number": "6222021234567890128"},
            "product": {"code": "WM-90D", "name": "稳健90天", "type_code": "FIXED"},
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=95)).isoformat(),
            "duration_ms": 95000,
            "media": {
                "file_name": "c.mp4", "size": 1, "sha256": "0" * 64, "video_codec": "h264", "width": 1920,
                "height": 1080, "fps": 25, "audio_codec": "aac", "sample_rate": 48000,
            },
            "gaps": [{"source": "desk-cam", "start_ms": 12000, "duration_ms": 2500}],
            "markers": [
                {"kind": "risk_disclosed", "at_ms": 30000},
                {"kind": "note", "at_ms": 50000, "text": "产品介绍"},
                {"kind": "note", "at_ms": 60000},
            ],
        }
    )  # fmt: skip
    facts = ManifestFacts.from_manifest(manifest, {"desk-cam": "desk"})
    assert facts.state == "interrupted" and facts.duration_s == 95
    assert [(g.source, g.start_s, g.duration_s) for g in facts.gaps] == [("desk-cam", 12.0, 2.5)]
    assert [(m.name, m.at_s) for m in facts.markers] == [("risk_disclosed", 30), ("产品介绍", 50), ("note", 60)]
    assert facts.source_roles == {"desk-cam": "desk"}


def _evidence(faces: list[int], duration: float = 10.0) -> Evidence:
    still = PictureStats(mean=120, std=50, bright_share=0, sharpness=1, uniform_share=0, change=2.0)
    n = len(faces)
    return Evidence(
        clip_file="x.mp4",
        duration_s=duration,
        video=StreamSpan(0.0, duration),
        audio=StreamSpan(0.0, duration),
        read_error=None,
        sample_interval_s=1.0,
        times=[float(i) for i in range(n)],
        faces=faces,
        persons=[1] * n,
        desk=[still] * n,
        environment=[still] * n,
        sound=SoundSeconds(0.0, [-25.0] * n, [-6.0] * n, [0.0] * n, [0.9] * n),
    )


def test_a_face_missing_briefly_is_a_warning_and_missing_too_often_fails():
    brief = report_from(_evidence([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), QualityPolicy(), ManifestFacts())
    [f] = brief.findings
    assert (f.code, f.severity, f.start_s, f.end_s) == ("no_face", "warn", 3.0, 5.0)
    assert brief.verdict == "pass" and brief.measurements.face_share == 0.8
    # Never two samples in a row, but only half the time: the clip fails as a whole.
    scattered = report_from(_evidence([1, 0] * 5), QualityPolicy(), ManifestFacts())
    [f] = scattered.findings
    assert (f.code, f.severity, f.start_s, f.end_s) == ("no_face", "fail", 0.0, 10.0)


def test_a_check_added_to_the_registry_runs_with_the_others():
    def no_red_ties(ev: Evidence, policy: QualityPolicy, facts: ManifestFacts) -> list[Finding]:
        return [finding("occluded", "warn", "desk", 1.0, 2.0)]

    register(no_red_ties)
    try:
        report = report_from(_evidence([1] * 10), QualityPolicy(), ManifestFacts())
    finally:
        CHECKS.remove(no_red_ties)
    assert [(f.code, f.start_s) for f in report.findings] == [("occluded", 1.0)]
    assert report.verdict == "pass"


def test_sound_out_of_step_with_the_picture_fails_from_where_they_part():
    ev = _evidence([1] * 10)
    ev.audio = StreamSpan(0.0, 9.5)
    report = report_from(ev, QualityPolicy(), ManifestFacts())
    [f] = report.findings
    assert (f.code, f.severity, f.start_s, f.end_s) == ("desync", "fail", 9.5, 10.0)
    assert "0.50" in f.message_zh


def test_the_sound_meter_measures_level_overload_and_silence_per_second():
    policy = QualityPolicy()
    meter = SoundMeter(policy)
    rate = 48000
    t = np.arange(rate) / rate
    loud = np.clip(1.5 * np.sin(2 * np.pi * 440 * t), -1, 1).astype(np.float32)  # overdriven
    quiet = (0.01 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    silence = np.zeros(rate, np.float32)
    for k, second in enumerate((loud, quiet, silence)):
        meter.add(float(k), second, rate, second[::3].copy())
    s = meter.finish()
    assert len(s) == 3
    assert s.clipped_share[0] > 0.3 and s.clipped_share[1] == 0
    assert s.rms_dbfs[1] == pytest.approx(20 * np.log10(0.01 / np.sqrt(2)), abs=0.1)
    assert s.rms_dbfs[2] == -120.0 and s.peak_dbfs[0] == pytest.approx(0.0, abs=0.01)
    ev = _evidence([1, 1, 1], duration=3.0)
    ev.sound = s
    codes = {(f.code, f.start_s, f.end_s) for f in report_from(ev, QualityPolicy(), ManifestFacts()).findings}
    assert ("clipped", 0.0, 1.0) in codes
