"""The systemd units pass `systemd-analyze verify` and keep their exposure score.

Both are checked offline against a staging root: systemd's own units (the targets ours
depend on) copied from this machine, ours under ``etc/systemd/system``, and the programs
they start at the paths ``healthhub-provision install`` puts them (copies of this venv's
console scripts: verify checks they exist and are executable). The exposure scores of
``systemd-analyze security`` are the ones reported in docs/systemd.md; a change that weakens
the hardening changes the score and fails here until the document says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from processes import script

REPO = Path(__file__).resolve().parent.parent.parent
UNITS = (
    "healthhub-agent.service",
    "healthhub-kiosk.service",
    "healthhub-firstboot.service",
    "healthhub-update.service",
)
#: Checked by verify too; a path unit has no exposure score (it runs nothing itself).
VERIFIED = (*UNITS, "healthhub-update.path")
INSTALL = "run `make setup` (apt-get install systemd)"
SYSTEM_UNITS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, f"systemd-analyze is missing: {INSTALL}"
    return found


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    staging = tmp_path_factory.mktemp("root")
    source = next((p for p in SYSTEM_UNITS if (p / "multi-user.target").exists()), None)
    assert source is not None, f"systemd's own units are missing: {INSTALL}"
    shutil.copytree(source, staging / "usr/lib/systemd/system", symlinks=True)
    units = staging / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in VERIFIED:
        shutil.copy(REPO / "systemd" / unit, units / unit)
    bin_dir = staging / "opt/healthhub/venv/bin"
    bin_dir.mkdir(parents=True)
    for program in ("healthhub-agent", "healthhub-kiosk", "healthhub-provision"):
        shutil.copy(script(program), bin_dir / program)
    return staging


def test_every_unit_passes_systemd_analyze_verify(root: Path) -> None:
    result = subprocess.run(
        [_analyze(), "verify", f"--root={root}", *VERIFIED],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # not even a warning


def test_a_unit_that_names_a_missing_program_fails_verify(root: Path, tmp_path: Path) -> None:
    """The check above can fail: the same root with the agent's program taken away."""
    broken = tmp_path / "root"
    shutil.copytree(root, broken, symlinks=True)
    (broken / "opt/healthhub/venv/bin/healthhub-agent").unlink()
    result = subprocess.run(
        [_analyze(), "verify", f"--root={broken}", "healthhub-agent.service"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "healthhub-agent" in result.stderr


def _documented() -> dict[str, float]:
    text = (REPO / "docs" / "systemd.md").read_text(encoding="utf-8")
    return {
        unit: float(score)
        for unit, score in re.findall(r"^\| `(healthhub-\w+\.service)` \| ([0-9.]+) \|", text, re.M)
    }


@pytest.mark.parametrize("unit", UNITS)
def test_the_exposure_score_is_the_one_reported(root: Path, unit: str) -> None:
    result = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--root={root}", unit],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    score = float(found.group(1))
    assert score == _documented()[unit], f"{unit} scores {score}: update docs/systemd.md"
    assert score < 2.0  # "OK" in systemd's scale (0 safe .. 10 unsafe)
