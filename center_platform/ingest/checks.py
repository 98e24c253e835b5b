"""The checks an assembled clip must pass before it is catalogued: a list, run in order, every one of them.

Each check looks at one thing and reports every problem it finds. The ingest runs the whole list and a
clip that fails is quarantined with all the problems, not the first, so whoever looks at it sees at once
everything that is wrong. A check whose answer would only repeat an earlier failure (the hash of an
object whose size is already wrong) names that check in `after` and is skipped with a note.

Findings are a third kind of answer: what the clip shows about its compliance (too short, a required
moment missing). They never quarantine a clip (a poor recording is still evidence, archived and
locked); each one is also a note, so the ingest's audit line records it.

To add a check, write a function from `IngestContext` to `CheckResult`
and append it to `CHECKS`. A check only reads: it writes nothing to the catalogue or the store. An
exception is not a verdict: it leaves the upload as it was (a store outage answers 503 and the branch
completes again later), so a check raises only for faults that are not the clip's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.db.models import Product
from center_platform.ingest import manifest_chain
from center_platform.ingest.clip_findings import manifest_findings, product_policy
from storage.manifest import ClipManifest, ManifestError
from storage.object_store import ObjectStore
from storage.quality.report import Finding


@dataclass(frozen=True)
class Problem:
    """Why a clip must not be catalogued. `code` is stable (for filters and alerts), `message` is for people."""

    code: str
    message: str


@dataclass(frozen=True)
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    # Worth an operator's attention, not a reason to refuse the clip.
    notes: list[str] = field(default_factory=list)
    # The clip's compliance as far as this check can tell; the clip is archived whatever they say.
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class StoredMedia:
    """The assembled object as the archive holds it, streamed back and hashed by the center."""

    key: str
    version_id: str
    size: int
    sha256: str


@dataclass(frozen=True)
class IngestContext:
    manifest: ClipManifest
    stored: StoredMedia
    branch_id: int
    branch_code: str
    # The branch key the manifest names, if it was the branch's when the clip was recorded
    # (admin.signing_keys); empty when the branch has none, or none that applies (signing_key_problem says why).
    branch_public_key: str
    session: Session  # to read the catalogue (the manifest chain); checks never write through it
    store: ObjectStore  # for checks that read the object's bytes themselves
    signing_key_problem: str = ""


CheckFn = Callable[[IngestContext], CheckResult]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn
    # Checks earlier in the list that must have passed for this one to say anything new.
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckReport:
    ran: list[str]
    skipped: list[str]
    problems: list[Problem]
    notes: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """Every problem, in the order found: what the upload row, the alert and the branch are told."""
        return "; ".join(p.message for p in self.problems)


# -- the checks -----------------------------------------------------------------------------------


def check_size(ctx: IngestContext) -> CheckResult:
    expected = ctx.manifest.media.size
    if ctx.stored.size != expected:
        return CheckResult(
            [Problem("size_mismatch", f"stored size {ctx.stored.size} differs from the manifest's {expected}")]
        )
    return CheckResult()


def check_sha256(ctx: IngestContext) -> CheckResult:
    expected = ctx.manifest.media.sha256
    if ctx.stored.sha256 != expected:
        return CheckResult(
            [Problem("sha256_mismatch", f"stored SHA-256 {ctx.stored.sha256} differs from the manifest's {expected}")]
        )
    return CheckResult()


def check_signature(ctx: IngestContext) -> CheckResult:
    """Against the branch key the manifest names, valid when the clip was recorded: a key replaced since
    still vouches for what it signed before, and for nothing recorded after."""
    if ctx.signing_key_problem:
        return CheckResult([Problem("signature_invalid", ctx.signing_key_problem)])
    if not ctx.branch_public_key:
        return CheckResult(
            [Problem("signing_key_missing", f"branch {ctx.branch_code} has no signing key enrolled at the center")]
        )
    try:
        ctx.manifest.verify(ctx.branch_public_key)
    except ManifestError as exc:
        return CheckResult([Problem("signature_invalid", str(exc))])
    return CheckResult()


def check_manifest_chain(ctx: IngestContext) -> CheckResult:
    chain = manifest_chain.check_chain(ctx.session, ctx.branch_id, ctx.manifest)
    return CheckResult(
        problems=[Problem("manifest_chain", chain.problem)] if chain.problem else [],
        notes=[chain.note] if chain.note else [],
    )


def check_quality(ctx: IngestContext) -> CheckResult:
    """What the manifest alone tells about the clip's compliance, at once; the picture and sound are
    analysed later (archive.clip_quality takes every archived clip that has no report yet)."""
    product = ctx.session.execute(select(Product).where(Product.code == ctx.manifest.product.code)).scalar_one_or_none()
    findings = manifest_findings(ctx.manifest, product_policy(product))
    notes = [f"quality {f.code} {f.start_s:g}-{f.end_s:g} s ({f.severity}): {f.message}" for f in findings]
    return CheckResult(notes=notes, findings=findings)


CHECKS: tuple[Check, ...] = (
    Check("size", check_size),
    Check("sha256", check_sha256, after=("size",)),
    Check("signature", check_signature),
    Check("manifest_chain", check_manifest_chain),
    Check("quality", check_quality),
)


# -- running them ---------------------------------------------------------------------------------


def run_checks(ctx: IngestContext, checks: Sequence[Check] = CHECKS) -> CheckReport:
    """Every check in order; none stops the others, so the report holds every problem there is."""
    seen: set[str] = set()
    not_passed: set[str] = set()
    ran: list[str] = []
    skipped: list[str] = []
    problems: list[Problem] = []
    notes: list[str] = []
    findings: list[Finding] = []
    for check in checks:
        unknown = [name for name in check.after if name not in seen]
        if unknown:
            raise ValueError(f"check {check.name!r} runs after {unknown}, which are not earlier in the list")
        seen.add(check.name)
        blocked = [name for name in check.after if name in not_passed]
        if blocked:
            skipped.append(check.name)
            not_passed.add(check.name)
            notes.append(f"{check.name} not checked: {', '.join(blocked)} already failed")
            continue
        result = check.run(ctx)
        ran.append(check.name)
        if result.problems:
            not_passed.add(check.name)
        problems.extend(result.problems)
        notes.extend(result.notes)
        findings.extend(result.findings)
    return CheckReport(ran=ran, skipped=skipped, problems=problems, notes=notes, findings=findings)
