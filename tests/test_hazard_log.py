"""Every test the hazard log names as a control exists: a control nobody runs is no control."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOG = REPO / "docs" / "clinical-safety" / "hazard-log.md"

# `tests/x/test_y.py::name`, or `::name` meaning the file named last in the same cell.
_CITATION = re.compile(r"`(tests/[\w/]+\.py)?::(\w+)")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_hazard_log_cites_exists() -> None:
    missing = []
    cited = 0
    for line in LOG.read_text().splitlines():
        if not line.startswith("| H"):
            continue
        hazard = line.split("|")[1].strip()
        for cell in line.split("|"):
            current: str | None = None
            for path, name in _CITATION.findall(cell):
                current = path or current
                assert current is not None, f"{hazard}: `::{name}` with no file before it"
                cited += 1
                if name not in _tests_in(REPO / current):
                    missing.append(f"{hazard}: {current}::{name}")
    assert cited > 50
    assert not missing, "\n".join(missing)


def _rows() -> dict[str, str]:
    """Each hazard row of the log by its id."""
    return {
        line.split("|")[1].strip(): line
        for line in LOG.read_text().splitlines()
        if line.startswith("| H")
    }


def test_every_hazard_names_a_test_or_says_why_not() -> None:
    """A row without a test is a review item and says so."""
    bare = [
        hazard
        for hazard, line in _rows().items()
        if not _CITATION.search(line) and "not a test" not in line
    ]
    assert not bare, f"hazards with no test and no reason: {bare}"


#: The hazards the practice side's DCB0129 log must keep (issue 8), and the rows holding them.
REQUIRED = {
    "wrong patient": ("H13", "H52"),
    "session not cleared": ("H15",),
    "reading lost or duplicated": ("H1", "H2", "H55"),
    "urgent result not escalated": ("H14", "H53", "H64"),
    "PHQ-9 item 9 missed": ("H43",),
    "SpO2 over-reading on darker skin": ("H9",),
    "wrong units": ("H21", "H52"),
    "stale configuration or content": ("H50", "H65"),
}


def test_the_hazards_the_safety_case_rests_on_stay_in_the_log_with_their_tests() -> None:
    rows = _rows()
    for hazard, ids in REQUIRED.items():
        for hazard_id in ids:
            assert hazard_id in rows, f"{hazard}: {hazard_id} is gone from the hazard log"
            assert _CITATION.search(rows[hazard_id]), f"{hazard}: {hazard_id} cites no test"
