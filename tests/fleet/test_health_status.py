"""The fleet's status shows each unit's Pi health, marking what the unit says is over."""

from __future__ import annotations

from pathlib import Path

from pi_sysfs import health_report

from healthhub.fleet.cli import status_table
from healthhub.fleet.console import FleetView, rows
from healthhub.fleet.health_summary import health_cells, health_summary


def test_a_hot_under_powered_unit_is_marked_and_a_healthy_one_is_not(tmp_path: Path) -> None:
    hot = health_report(tmp_path / "hot", celsius=86.2, throttled="throttled=0x50005\n")
    cool = health_report(tmp_path / "cool", celsius=51.0, throttled="throttled=0x0\n")
    summary = health_summary({"at": hot["at"], "pi_health": hot})
    assert summary is not None
    assert summary["cpu_temperature_c"] == 86.2
    assert summary["throttled_now"] == ["under_voltage", "throttled"]
    assert summary["over"] == {"cpu_temperature": "critical", "under_voltage": "critical"}
    temp, free, sd, flags = health_cells(summary)
    assert temp == "86C!"
    assert free.rstrip("!").endswith("%")  # the test machine's real free space
    assert sd == "0%"  # life time estimate 0x01: 0-10 % used
    assert flags == "under_voltage!,throttled"
    cool_temp, _, cool_sd, cool_flags = health_cells(health_summary({"pi_health": cool}))
    assert (cool_temp, cool_sd, cool_flags) == ("51C", "0%", "ok")


def test_worn_card_and_an_agent_without_pi_health(tmp_path: Path) -> None:
    worn = health_report(tmp_path / "worn", celsius=50.0, life_time="0x0a 0x02", pre_eol="0x02")
    summary = health_summary({"pi_health": worn})
    assert summary is not None
    assert summary["over"] == {"sd_wear": "warning"}
    assert health_cells(summary)[2] == "90% eol:warning!"
    assert health_summary({"at": "x"}) is None  # an older agent: nothing to show
    assert health_cells(None) == ("-", "-", "-", "-")
    broken = health_summary({"pi_health": {"error": "OSError: gone", "checks": {}}})
    assert health_cells(broken) == ("-", "-", "-", "health-error")


def test_the_status_table_has_the_health_columns(tmp_path: Path) -> None:
    hot = health_report(tmp_path / "hot", celsius=81.0)
    view = FleetView(
        status={"wall-1": {"state": "online", "at": hot["at"]}},
        telemetry={"wall-1": {"at": hot["at"], "pi_health": hot}},
    )
    found = rows({"wall-1": "practice-a", "wall-2": "practice-a"}, view)
    header, first, second = status_table(found)
    assert header.split()[-5:] == ["temp", "free", "sd", "wear", "health"]
    assert "81C!" in first
    assert first.rstrip().endswith("ok")
    assert second.rstrip().endswith("-")  # never seen: no health to show
