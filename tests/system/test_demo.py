"""`healthhub-demo --duration N` runs a whole practice and exits 0 with an exact summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import run_cli

pytestmark = pytest.mark.system


def test_demo_runs_a_practice_and_files_every_reading(tmp_path: Path) -> None:
    result = run_cli(
        "healthhub-demo",
        "--duration",
        "10",
        "--interval",
        "0.5",
        "--dir",
        str(tmp_path / "demo"),
        timeout=120,
    )
    out = result.stdout
    for device in ("kiosk-1", "wall-1", "wall-2"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{device}:"))
        assert "no gaps, no duplicates" in line
        assert "filed at the practice 0 " not in line
    assert "online" in out  # live progress was shown
    assert "starter content pushed to demo-practice (version 1)" in out
    assert (tmp_path / "demo" / "practice-store.sqlite").exists()
    assert "practice dashboard: http://127.0.0.1:" in out  # it ran the whole time (not dead)
    assert (tmp_path / "demo" / "report.html").exists()
    assert (tmp_path / "demo" / "report.csv").exists()
    assert "anonymous readings counted, not filed" in out
