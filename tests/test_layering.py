"""The one-way rule of the tree: the branch and the center share only `storage/`, and `storage/` depends on neither.

A branch appliance ships without the center's code and the other way round; an import across that line
would either fail on the appliance or make the center's internals part of the wire contract.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("branch_agent", "center_platform", "storage")
# package -> top-level packages of this repository it must never import
FORBIDDEN = {
    "branch_agent": {"center_platform", "tests", "scripts", "bench"},
    "center_platform": {"branch_agent", "tests", "scripts", "bench"},
    "storage": {"branch_agent", "center_platform", "tests", "scripts", "bench"},
}


@dataclass(frozen=True)
class ImportLine:
    path: Path
    line: int
    module: str


def absolute_imports(path: Path) -> list[ImportLine]:
    """Every absolute import of a file; a relative one stays inside its own package by construction."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[ImportLine] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(ImportLine(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append(ImportLine(path, node.lineno, node.module or ""))
    return found


def crossings(root: Path, package: str) -> list[str]:
    bad: list[str] = []
    for path in sorted((root / package).rglob("*.py")):
        for imp in absolute_imports(path):
            if imp.module.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{imp.path.relative_to(root)}:{imp.line} imports {imp.module}")
    return bad


@pytest.mark.parametrize("package", PRODUCT)
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert crossings(REPO, package) == []


def test_a_crossing_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "storage" / "contract").mkdir(parents=True)
    (tmp_path / "storage" / "contract" / "probe.py").write_text(
        "from . import sibling\nfrom center_platform.web import services\n\ndef f():\n    import branch_agent.config\n",
        encoding="utf-8",
    )
    assert crossings(tmp_path, "storage") == [
        "storage/contract/probe.py:2 imports center_platform.web",
        "storage/contract/probe.py:5 imports branch_agent.config",
    ]


MAX_MODULE_LINES = 500


def test_no_product_module_outgrows_one_job() -> None:
    # A module past this size has always turned out to hold two responsibilities; split it.
    too_long = {
        str(path.relative_to(REPO)): n
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
