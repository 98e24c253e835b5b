"""How a clip's quality verdict and its kinds of finding are named on the center's pages and in its
lists, Chinese first."""

from __future__ import annotations

from typing import Literal, get_args

from storage.quality.policy import FindingCode

QualityFilter = Literal["pass", "fail", "unchecked"]
QUALITY_FILTERS: tuple[str, ...] = get_args(QualityFilter)
FINDING_CODES: tuple[str, ...] = get_args(FindingCode)

VERDICT_LABELS: dict[str, str] = {
    "pass": "合格 pass",
    "fail": "不合格 fail",
    "unchecked": "未检 not yet checked",
}

FINDING_LABELS: dict[str, str] = {
    "no_face": "桌面无人脸 no face at the desk",
    "no_person": "环境无人员 no person in the room",
    "no_speech": "无人声 no speech",
    "silent": "无声音 silence",
    "clipped": "声音削波 sound clipped",
    "quiet": "人声过低 voice too quiet",
    "black": "画面全黑 black picture",
    "frozen": "画面静止 frozen picture",
    "blurred": "画面模糊 blurred picture",
    "too_dark": "画面过暗 too dark",
    "too_bright": "画面过亮 too bright",
    "occluded": "画面遮挡 picture covered",
    "gap": "信号中断 source dropped out",
    "interrupted": "录像中断 recording cut off",
    "too_short": "时长不足 too short",
    "desync": "音画不同步 sound and picture out of step",
    "marker_missing": "缺少必录环节 required moment missing",
    "marker_order": "必录环节顺序错误 moments out of order",
    "consent_missing": "未记录客户同意 no consent recorded",
    "unreadable": "无法读取 unreadable",
}
assert set(FINDING_LABELS) == set(FINDING_CODES), "every finding code has its label"


def verdict_label(verdict: str | None) -> str:
    return VERDICT_LABELS[verdict or "unchecked"]
