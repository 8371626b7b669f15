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
