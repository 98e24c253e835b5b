"""Compliance quality check of an evidence clip, shared by the branch (right after a recording) and
the center (again at ingest): both faces, intelligible voices, sound and picture in step, an
unbroken recording, and the product's required moments on it.

    report = run_quality_check(path, policy.for_product(["风险揭示", "客户确认"], 60), facts)
    report.verdict, report.findings   # "pass"/"fail"; what was found, where, why

``analyse_clip`` does the same in the calling process. Thresholds are data (``QualityPolicy``) and
are written into every report together with the analyser's version.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from storage.quality.policy import (
    DEFAULT_INSET,
    DEFAULT_INSET_FRAME,
    DEFAULT_OVERLAY,
    DefectRule,
    FindingCode,
    GapFact,
    ManifestFacts,
    Marker,
    QualityPolicy,
    Region,
    marker_key,
)
from storage.quality.report import Cost, Finding, LevelStats, Measurements, QualityReport
from storage.quality.runner import QualityCheckFailed, QualityCheckProcess, run_quality_check, start_quality_check

if TYPE_CHECKING:
    from storage.quality.analyse import analyse_clip, analyser_version, report_from
    from storage.quality.checks import CHECKS, Check, register

# The analysis itself (OpenCV, dlib, PyAV, the voice model) loads only when it is used: whoever just
# starts a check, or reads a report, does not pay for it.
_ANALYSIS = {
    "analyse_clip": "storage.quality.analyse",
    "analyser_version": "storage.quality.analyse",
    "report_from": "storage.quality.analyse",
    "CHECKS": "storage.quality.checks",
    "Check": "storage.quality.checks",
    "register": "storage.quality.checks",
}


def __getattr__(name: str) -> object:
    module = _ANALYSIS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import_module("storage.quality.analyse")  # registers every check, including the manifest's
    return getattr(import_module(module), name)


__all__ = [
    "CHECKS",
    "DEFAULT_INSET",
    "DEFAULT_INSET_FRAME",
    "DEFAULT_OVERLAY",
    "Check",
    "Cost",
    "DefectRule",
    "Finding",
    "FindingCode",
    "GapFact",
    "LevelStats",
    "ManifestFacts",
    "Marker",
    "Measurements",
    "QualityCheckFailed",
    "QualityCheckProcess",
    "QualityPolicy",
    "QualityReport",
    "Region",
    "analyse_clip",
    "analyser_version",
    "marker_key",
    "register",
    "report_from",
    "run_quality_check",
    "start_quality_check",
]
