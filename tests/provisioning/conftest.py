"""A release's wheel set, built once per test session from this source tree.

``pip wheel`` builds Health Hub's own wheel and fetches its dependencies' wheels (from pip's
cache after the first run; PyPI otherwise), exactly what ``healthhub-provision install
--wheels`` and a software update install from on a unit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(folder), str(REPO)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"pip wheel failed (PyPI or pip's cache must be reachable; `make setup` first):\n"
        f"{result.stderr[-2000:]}"
    )
    return folder
