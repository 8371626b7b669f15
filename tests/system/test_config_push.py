"""Signed configuration layers pushed by the console reach the devices through mosquitto
(TLS, per-device ACLs), are applied or rejected with a reason, and reach offline devices later."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import Enrol, agent, agent_status, connected, run_cli, wait_until

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def push(fleet: FleetLayout, tmp_path: Path, where: list[str], settings: Any, *extra: str) -> Any:
    file = tmp_path / "layer.yaml"
    file.write_text(yaml.safe_dump(settings))
    return run_cli(
        "healthhub-fleet",
        "config",
        "push",
        "--fleet",
        str(fleet.root),
        *where,
        str(file),
        *extra,
        check=False,
        timeout=120,
    )


def held(config: Path, level: str) -> int | None:
    if not (config.parent / "state" / "outbox.sqlite").exists():
        return None
    layers = agent_status(config).get("config") or {}
    return layers.get(level, {}).get("held")


def status_rows(fleet: FleetLayout) -> dict[str, Any]:
    shown = run_cli(
        "healthhub-fleet", "status", "--fleet", str(fleet.root), "--json", "--wait", "0"
    )
    return {row["device"]: row for row in json.loads(shown.stdout)}


def peripherals(config: Path) -> dict[str, Any]:
    return dict(agent_status(config).get("peripherals") or {})


def test_layers_are_applied_rejected_with_a_reason_and_reach_an_offline_device(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    kiosk = enrol("kiosk-1", role="kiosk", simulate=False)
    wall = enrol("wall-1", simulate=False)
    away = enrol("wall-9", site="practice-b", simulate=False)
    for config in (kiosk, wall, away):
        data = yaml.safe_load(config.read_text())
        data["telemetry"] = {"interval_s": 0.3}  # the status file follows quickly
        config.write_text(yaml.safe_dump(data))
    running = [agent(kiosk, tmp_path).start(), agent(wall, tmp_path).start()]
    try:
        for config in (kiosk, wall):
            wait_until(lambda c=config: connected(c), 60, f"{config.parent.name} connected")

        site = ["--site", "practice-a"]
        good = push(fleet, tmp_path, site, {"ui": {"idle_timeout_s": 120}}, "--wait", "--json")
        assert good.returncode == 0, good.stdout + good.stderr
        outcome = json.loads(good.stdout)
        assert outcome["version"] == 1
        assert sorted(outcome["applied"]) == ["kiosk-1", "wall-1"]
        wait_until(lambda: held(kiosk, "site") == 1, 30, "kiosk-1 to report site layer 1")
        shown = run_cli(
            "healthhub-fleet", "config", "show", "--fleet", str(fleet.root), "--device", "kiosk-1"
        ).stdout
        assert "ui.idle_timeout_s = 120  (site practice-a)" in shown
        assert 'device.id = "kiosk-1"  (local)' in shown
        assert "# site layer: version 1 on the broker, device holds 1 (applied)" in shown

        bad = push(fleet, tmp_path, site, {"ui": {"idle_timeout_s": 5}}, "--wait", "--json")
        assert bad.returncode == 1
        refused = json.loads(bad.stdout)["rejected"]
        assert set(refused) == {"kiosk-1", "wall-1"}
        assert all("ui.idle_timeout_s" in reason for reason in refused.values())
        assert held(kiosk, "site") == 1  # the good layer is kept

        # Peripherals pushed to a running unit start without a restart of the agent.
        scale = {"name": "scale", "driver": "scale", "backend": "simulator", "interval_s": 0.2}
        added = push(fleet, tmp_path, ["--device", "kiosk-1"], {"peripherals": [scale]}, "--wait")
        assert added.returncode == 0, added.stdout + added.stderr
        wait_until(
            lambda: peripherals(kiosk).get("scale", {}).get("readings", 0) > 0,
            30,
            "the pushed scale to take readings",
        )

        # A peripheral that fails for good fails the health check: the old set comes back.
        broken = {
            "name": "bench",
            "driver": "scale",
            "backend": "serial.adam_mdw",
            "port": "loop://",
        }
        tried = push(
            fleet,
            tmp_path,
            ["--device", "kiosk-1"],
            {"peripherals": [scale, broken]},
            "--wait",
            "--json",
        )
        assert tried.returncode == 1
        reason = json.loads(tried.stdout)["rejected"]["kiosk-1"]
        assert reason.startswith("rolled back: peripheral bench failed to start"), reason
        assert held(kiosk, "device") == 1
        wait_until(lambda: "bench" not in peripherals(kiosk), 30, "the old peripheral set")
        assert "scale" in peripherals(kiosk)

        local_only = push(fleet, tmp_path, site, {"broker": {"host": "evil.example"}})
        assert local_only.returncode == 2
        assert "local-only" in local_only.stderr

        # wall-9 is off: the fleet-wide layer waits for it on the broker.
        fleet_wide = push(
            fleet,
            tmp_path,
            ["--fleet-wide"],
            {"telemetry": {"interval_s": 0.4}},
            "--wait",
            "--timeout",
            "5",
            "--json",
        )
        assert fleet_wide.returncode == 1
        assert json.loads(fleet_wide.stdout)["pending"] == ["wall-9"]
        # status shows wall-9 behind the fleet layer; the refusals above are not "behind"
        rows = status_rows(fleet)
        assert rows["wall-9"]["behind"] == ["config/fleet"]
        assert rows["wall-9"]["config"]["fleet"]["desired"] == 1
        assert rows["kiosk-1"]["behind"] == rows["wall-1"]["behind"] == []
        assert rows["kiosk-1"]["config"]["device"]["state"] == "rolled_back"
        table = run_cli("healthhub-fleet", "status", "--fleet", str(fleet.root), "--wait", "0")
        (line,) = [x for x in table.stdout.splitlines() if x.startswith("wall-9")]
        assert "-</-/-" in line, line  # holds nothing of the fleet layer version 1
        running.append(agent(away, tmp_path).start())
        wait_until(lambda: held(away, "fleet") == 1, 60, "wall-9 to catch up on the fleet layer")
        wait_until(lambda: status_rows(fleet)["wall-9"]["behind"] == [], 30, "wall-9 caught up")
        assert held(away, "site") is None  # practice-a's layer is not practice-b's
    finally:
        for service in running:
            assert service.stop() == 0

    # Restarted without a broker connection yet, the kiosk runs on the layers it kept.
    again = agent(kiosk, tmp_path, name="kiosk-again").start()
    try:
        wait_until(lambda: held(kiosk, "site") == 1, 30, "kiosk-1 to hold site layer 1 again")
        assert held(kiosk, "fleet") == 1
        wait_until(lambda: connected(kiosk), 60, "kiosk-1 connected again")
        # The broker sends the rolled-back layer again on connect: it is not tried twice.
        assert held(kiosk, "device") == 1
        assert agent_status(kiosk)["config"]["device"]["state"] == "rolled_back"
        assert "bench" not in peripherals(kiosk)
    finally:
        assert again.stop() == 0
