"""A counter's cameras and microphone as the screens show them: every health field, plus what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from branch_agent.counter.sources import CounterSources
from branch_agent.sources import SourceHealth
from storage.contract.heartbeat import VideoDiagnosisReport
from storage.quality.live import FINDING_LABELS

# A picture older than this means the camera froze or the stream stopped, well before the recorder
# would log a gap, so the manager hears about it while the customer is still at the desk.
STALE_AFTER_S = 2.0

ROLE_LABELS = {
    "environment": "环境摄像头 / environment camera",
    "desk": "桌面摄像头 / desk camera",
    "microphone": "麦克风 / microphone",
}


@dataclass(frozen=True)
class SourceView:
    role: str
    label: str
    health: SourceHealth
    problem: str | None
    diagnosis: VideoDiagnosisReport | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.diagnosis
        found = {"at": d.at.isoformat(), "findings": list(d.findings)} if d is not None else None
        return {
            "role": self.role,
            "label": self.label,
            "problem": self.problem,
            "diagnosis": found,
            **asdict(self.health),
        }


def describe_problem(role: str, h: SourceHealth, diagnosis: VideoDiagnosisReport | None = None) -> str | None:
    zh, en = ("声音", "sound") if role == "microphone" else ("画面", "picture")
    detail = f" ({h.detail})" if h.detail else ""
    if not h.connected:
        return f"未连接 / not connected{detail}"
    if h.last_frame_age_s is None:
        return f"尚无{zh} / no {en} yet{detail}"
    if h.last_frame_age_s > STALE_AFTER_S:
        age = f"{h.last_frame_age_s:.0f}"
        return f"{zh}中断 {age} 秒 / no {en} for {age} s{detail}"
    if h.dropped_recent:
        # Sound arrives but the clip loses some of it: as wrong as no sound, and easier to miss.
        return (
            f"最近一分钟丢失 {h.dropped_recent} 段{zh}（共 {h.dropped} 段）/ "
            f"{h.dropped_recent} chunks of {en} dropped in the last minute ({h.dropped} in all){detail}"
        )
    # The picture arrives, but what it shows is wrong (black, covered, moved, ...): the last diagnosis says.
    faults = [f for f in diagnosis.findings if f != "signal_loss"] if diagnosis is not None else []
    if faults:
        return "画面诊断 / picture diagnosis: " + "；".join(FINDING_LABELS[f] for f in faults)
    return None


def counter_source_views(
    sources: CounterSources, diagnoses: Mapping[str, VideoDiagnosisReport] | None = None
) -> list[SourceView]:
    views = []
    for role in ("environment", "desk", "microphone"):
        health = getattr(sources, role).health()
        d = (diagnoses or {}).get(role)
        views.append(SourceView(role, ROLE_LABELS[role], health, describe_problem(role, health, d), d))
    return views
