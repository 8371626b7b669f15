"""Real peripherals in a real agent: a serial blood-pressure unit on a pseudo-terminal, the
unit's own GPIO parts (simulated on gpiozero's MockFactory), a help button and a PIR.

The agent is the installed ``healthhub-agent`` process; the broker is mosquitto with the
generated TLS/ACLs; the bridge files what arrives. Only the devices are emulated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from processes import Enrol, agent, agent_status, bridge, configure, run_cli, wait_until
from serial_devices import AccutorrEmulator
from ui_probe import UiProbe, run_ui

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def peripheral(config: Path, name: str) -> dict[str, Any]:
    """What ``healthhub-agent status`` says of one peripheral ({} before the agent's state
    exists: the status command refuses to create it)."""
    if not (config.parent / "state" / "outbox.sqlite").exists():
        return {}
    return dict(agent_status(config)["peripherals"].get(name, {}))


def exported(store: Path) -> list[dict[str, Any]]:
    result = run_cli("healthhub-fleet", "export", "--store", str(store), "--format", "jsonl")
    return [json.loads(line) for line in result.stdout.splitlines()]


def alerts(store: Path) -> list[dict[str, Any]]:
    result = run_cli("healthhub-fleet", "alerts", "--store", str(store), "--json")
    return list(json.loads(result.stdout))


def test_a_serial_bp_unit_on_a_pty_feeds_the_agent_and_the_reading_reaches_the_practice(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk", simulate=False)
    store = tmp_path / "store.sqlite"
    with AccutorrEmulator() as unit:
        # A reading already on the unit's screen when the agent connects: someone else's.
        unit.measure(systolic=150, diastolic=95, pulse=80, mean=113)
        configure(
            config,
            telemetry={"interval_s": 0.3},
            peripherals=[
                {
                    "name": "bp",
                    "driver": "blood_pressure",
                    "backend": "serial.accutorr",
                    "port": unit.path,
                    "poll_s": 0.2,
                },
                {"name": "led", "driver": "status_led", "backend": "simulator"},
            ],
        )
        the_bridge = bridge(fleet.root, store, tmp_path).start()
        the_agent = agent(config, tmp_path).start()
        try:
            wait_until(
                lambda: peripheral(config, "bp").get("state") == "waiting",
                60,
                "the BP unit to be waiting for a patient",
            )
            wait_until(
                lambda: peripheral(config, "led").get("detail") == "on",
                60,
                "the status LED to show the broker link",
            )
            shown = run_cli("healthhub-agent", "status", "--config", str(config)).stdout
            assert "peripheral   bp: blood_pressure/serial.accutorr waiting" in shown
            # A patient presses START on the unit and it measures.
            unit.measure(systolic=128, diastolic=82, pulse=71, mean=97)
            wait_until(lambda: exported(store), 60, "the reading at the practice")
            [reading] = exported(store)
            values = {c["code"]: c["value"] for c in reading["components"]}
            assert values["systolic"] == 128
            assert values["diastolic"] == 82
            assert reading["kind"] == "blood_pressure"

            # Unplugged: the agent says so and carries on; the LED is not affected.
            unit.unplug()
            wait_until(
                lambda: peripheral(config, "bp").get("state") == "error",
                60,
                "the unplugged unit to be reported",
            )
            assert the_agent.running
            assert peripheral(config, "led").get("detail") == "on"
        finally:
            assert the_agent.stop() == 0
            the_bridge.stop()
    assert len(exported(store)) == 1  # the earlier patient's reading was never taken


def test_the_help_button_alerts_staff_and_the_pir_wakes_the_screen(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("kiosk-2", role="kiosk", simulate=False)
    store = tmp_path / "store.sqlite"
    configure(
        config,
        peripherals=[
            {
                "name": "help",
                "driver": "help_button",
                "backend": "simulator",
                "script": [{"after_s": 1.0, "for_s": 0.2}],
                "repeat": True,  # pressed again and again: still one alert per hold-off
                "hold_off_s": 0.5,
            },
            {
                "name": "pir",
                "driver": "presence_sensor",
                "backend": "simulator",
                "script": [{"after_s": 0.5, "for_s": 0.3}],
                "repeat": True,
                "min_interval_s": 0.1,
            },
        ],
    )
    socket_path = config.parent / "state" / "agent.sock"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    try:

        async def watch(ui: UiProbe) -> None:
            await ui.until("presence", lambda: ui.event("presence", name="pir"))
            await ui.until("help", lambda: ui.event("help_requested", source="button:help"))

        probe = run_ui(socket_path, watch)
        wait_until(lambda: alerts(store), 60, "the help alert at the practice")
        first = alerts(store)[-1]
        assert first["reason"] == "help_requested"
        assert first["device"] == "kiosk-2"
    finally:
        assert the_agent.stop() == 0
        the_bridge.stop()
    # Presses every ~1.2 s for the whole run, but the agent's own hold-off (30 s) lets one
    # alert through, whatever the button's driver does.
    assert len(alerts(store)) == 1
    assert probe.event("help_requested") is not None
