"""``healthhub-fleet update`` before and after the broker: a wheel folder units would refuse
stops the push, and the units' reports are tallied only for the manifest that reached them."""

from __future__ import annotations

from pathlib import Path

from processes import run_cli

from healthhub.fleet.software_push import UpdateOutcome, tally
from healthhub.provisioning.fleet import init_fleet


def test_a_wheel_folder_units_would_refuse_stops_the_push(tmp_path: Path) -> None:
    fleet = init_fleet(tmp_path / "fleet", name="Update PCN")  # no broker: nothing is sent
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "healthhub-0.2.0-py3-none-any.whl").write_bytes(b"ours")
    (wheels / "README.txt").write_text("notes")
    result = run_cli(
        "healthhub-fleet", "update", "--fleet", str(fleet.root), "--wheels", str(wheels),
        "--site", "practice-a", check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "README.txt is not a wheel" in result.stderr
    (wheels / "README.txt").unlink()
    (wheels / "healthhub-0.2.1-py3-none-any.whl").write_bytes(b"also ours")
    result = run_cli(
        "healthhub-fleet", "update", "--fleet", str(fleet.root), "--wheels", str(wheels),
        "--site", "practice-a", check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "exactly one healthhub wheel, not 2" in result.stderr


def test_reports_count_only_for_the_manifest_that_reached_the_unit() -> None:
    outcome = UpdateOutcome("0.2.0", {"wall-1": "a" * 64, "wall-2": "a" * 64, "kiosk-3": "b" * 64})
    reports = {
        # an older push's verdict, still retained: not this one's
        "wall-1": {"manifest": "c" * 64, "state": "rolled-back", "version_running": "0.1.0"},
        "wall-2": {"manifest": "a" * 64, "state": "downloading", "version_running": "0.1.0"},
        "kiosk-3": {"manifest": "b" * 64, "state": "rejected", "detail": "disk full"},
    }
    assert tally(outcome, reports)
    assert outcome.pending == ["wall-1", "wall-2"]
    assert outcome.failed == {"kiosk-3": "rejected: disk full"}
    reports["wall-1"] = {"manifest": "a" * 64, "state": "healthy", "version_running": "0.2.0"}
    reports["wall-2"] = {"manifest": "a" * 64, "state": "healthy", "version_running": "0.1.0"}
    tally(outcome, reports)
    assert outcome.healthy == ["wall-1"]
    assert outcome.pending == ["wall-2"]  # healthy on the old version is not done
    assert outcome.to_json()["pending"] == {"wall-2": "healthy"}
