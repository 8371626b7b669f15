"""Pi health end to end: a real agent reads a Pi's sysfs tree and a real ``vcgencmd`` process,
its alerts reach the practice through mosquitto and the bridge, and IT sees them in
``healthhub-fleet alerts`` and ``status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pi_sysfs import make_pi
from processes import Enrol, agent, bridge, configure, rows, run_cli, wait_until

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def telemetry(store: Path) -> dict[str, Any] | None:
    found = rows(store, "SELECT telemetry FROM device_reports WHERE device = 'wall-1'")
    return json.loads(found[0][0]) if found and found[0][0] else None


def health_alerts(store: Path) -> list[dict[str, Any]]:
    listed = json.loads(
        run_cli("healthhub-fleet", "alerts", "--store", str(store), "--json").stdout
    )
    return [a for a in listed if a["reason"] == "device_health"]


def rounds_seen(store: Path, count: int) -> None:
    """Wait until the bridge has kept ``count`` more telemetry rounds (no wall clock)."""
    seen: set[str] = set()

    def more() -> bool:
        latest = telemetry(store)
        if latest is not None:
            seen.add(latest["at"])
        return len(seen) > count

    wait_until(more, 60, f"{count} more telemetry rounds at the bridge", every=0.05)


def test_a_hot_then_under_powered_unit_alerts_it_once_each_and_clearing_shows(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    state_dir = config.parent / "state"
    state_dir.mkdir(mode=0o700)
    pi = make_pi(tmp_path / "pi", state_dir, celsius=52.0)
    configure(
        config,
        peripherals=[],
        telemetry={"interval_s": 0.3, "health": {"clear_after_s": 0}},
        health_sources=pi.config(),
    )
    store = tmp_path / "practice.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    try:
        first = wait_until(
            lambda: (telemetry(store) or {}).get("pi_health", {}).get("checks"),
            60,
            "Pi health in the telemetry the bridge keeps",
        )
        assert first == {
            name: {"level": "ok", "since": None, "alert": None, "cleared_at": None}
            for name in (
                "certificate_expiry",
                "cpu_temperature",
                "disk_space",
                "sd_wear",
                "under_voltage",
            )
        }
        pi.set_temperature(83.0)
        (alert,) = wait_until(lambda: health_alerts(store), 60, "the temperature alert filed")
        rounds_seen(store, 5)  # still hot for five more rounds: still one alert
        assert len(health_alerts(store)) == 1
        assert (alert["check"], alert["level"]) == ("cpu_temperature", "warning")
        assert alert["summary"] == "CPU 83.0 °C (warning at 80 °C, critical at 85 °C)"
        assert alert["route"]["notify"] == ["it-support"]
        hot = run_cli("healthhub-fleet", "status", "--fleet", str(fleet.root),
                      "--store", str(store), "--wait", "5").stdout  # fmt: skip
        (line,) = [row for row in hot.splitlines() if row.startswith("wall-1")]
        assert "83C!" in line
        pi.set_temperature(60.0)
        cleared = wait_until(
            lambda: (telemetry(store) or {})["pi_health"]["checks"]["cpu_temperature"][
                "cleared_at"
            ],
            60,
            "the clearing in telemetry",
        )
        assert cleared is not None
        assert telemetry(store)["pi_health"]["checks"]["cpu_temperature"]["level"] == "ok"  # type: ignore[index]
        pi.set_throttled("throttled=0x50005\n")
        wait_until(lambda: len(health_alerts(store)) == 2, 60, "the under-voltage alert filed")
        pi.set_throttled("throttled=0x50000\n")  # the dip is over; the boot saw it
        rounds_seen(store, 3)
        listed = run_cli("healthhub-fleet", "alerts", "--store", str(store), "--open").stdout
        shown = json.loads(
            run_cli("healthhub-fleet", "status", "--fleet", str(fleet.root), "--store",
                    str(store), "--json", "--wait", "5").stdout
        )  # fmt: skip
    finally:
        assert the_agent.stop() == 0
        assert the_bridge.stop() == 0
    latest, under = health_alerts(store)[0], health_alerts(store)
    assert len(under) == 2
    assert (latest["check"], latest["level"]) == ("under_voltage", "critical")
    assert "device_health  under_voltage critical" in listed
    assert "device_health  cpu_temperature warning" in listed
    (row,) = [r for r in shown if r["device"] == "wall-1"]
    assert row["health"]["cpu_temperature_c"] == 60.0
    assert row["health"]["throttled_since_boot"] == ["under_voltage", "throttled"]
    assert row["health"]["over"] == {"under_voltage": "critical"}
    assert "under_voltage" in the_agent.log()
    assert "Traceback" not in the_agent.log()
