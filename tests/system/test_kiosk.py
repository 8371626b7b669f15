"""The patient UI in a real window (Xvfb), touched through whole journeys, against real parts.

Each test runs ``tests/ui/kiosk_driver.py`` (the production app, driven by
touches) against a real agent; the journey test adds a real broker, the bridge
and an independent MQTT subscriber. Screenshots of every screen are kept in
``tests/artifacts/<test>/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from mqtt_clients import subscriber
from processes import (
    Enrol,
    Service,
    agent,
    bridge,
    configure_kiosk,
    connected,
    run_cli,
    wait_until,
)

from healthhub.agent.staff_pin import hash_pin
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system

DRIVER = Path(__file__).resolve().parents[1] / "ui" / "kiosk_driver.py"
URGENT = {"systolic": 186, "diastolic": 121, "pulse": 90}
IMPOSSIBLE = {"systolic": 90, "diastolic": 140, "pulse": 60}
NORMAL = {"systolic": 124, "diastolic": 78, "pulse": 68}


def kiosk_device(config: Path, script: list[Any], **ui: Any) -> None:
    # measure_s: long enough for the screen to show "measuring"
    configure_kiosk(config, script, measure_s=3, **ui)


def drive(
    display: str,
    config: Path,
    scenario: str,
    out: Path,
    *,
    language: str = "en",
    restart: Any = None,
    timeout: float = 240,
    handlers: dict[str, Any] | None = None,
    touch_keyboard: bool = False,
) -> dict[str, Any]:
    """Run a driver scenario; ``restart()`` is called when the driver asks for the agent back,
    ``handlers[want]()`` when it asks the test for something else (then told it is done)."""
    env = {**os.environ, "DISPLAY": display}
    argv = [sys.executable, str(DRIVER), "--config", str(config), "--scenario", scenario]
    argv += ["--out", str(out), "--language", language, "--speech-dir", str(out / "speech")]
    argv += ["--touch-keyboard"] if touch_keyboard else []
    log = (out / f"kiosk-{scenario}.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            control = out / "control.json"
            wanted = json.loads(control.read_text()).get("want") if control.exists() else None
            if restart is not None and wanted == "agent_restart":
                control.write_text(json.dumps({"want": "in hand"}))
                restart()
            elif handlers and wanted in handlers:
                control.write_text(json.dumps({"want": "in hand"}))
                handlers[wanted]()
                control.write_text(json.dumps({"done": wanted}))
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"kiosk driver did not finish in {timeout} s")
            time.sleep(0.1)
    finally:
        log.close()
    result_path = out / "result.json"
    tail = "\n".join((out / f"kiosk-{scenario}.log").read_text(errors="replace").splitlines()[-30:])
    assert result_path.exists(), f"the kiosk driver wrote no result:\n{tail}"
    result: dict[str, Any] = json.loads(result_path.read_text())
    assert result["ok"], f"{result.get('error')}\nsteps: {result['steps'][-8:]}\n{tail}"
    return result


@pytest.mark.parametrize("language", ["en", "ur"])
def test_urgent_blood_pressure_journey_alerts_the_practice_and_forgets_the_patient(  # noqa: PLR0917 - fixtures
    language: str,
    display: str,
    fleet: FleetLayout,
    broker: BrokerProcess,
    enrol: Enrol,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [URGENT])
    store = tmp_path / "practice.sqlite"
    seen_on_broker = tmp_path / "alerts-on-broker.txt"
    watcher = subscriber(fleet, "console", "healthhub/v1/devices/kiosk-1/up/alerts", seen_on_broker)
    practice = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    try:
        result = drive(display, config, "urgent_blood_pressure", artifacts_dir, language=language)
        wait_until(lambda: seen_on_broker.exists() and seen_on_broker.read_text(), 20, "alert")
        wait_until(lambda: "ALERT from kiosk-1" in practice.log(), 20, "the bridge files it")
    finally:
        watcher.terminate()
        the_agent.stop()
        practice.stop()
    facts = result["facts"]
    assert facts["urgent_notice"], "the urgent result tells the patient to go to reception"
    assert facts["small_targets"] == [], "touch targets are at least 48 dp"
    assert facts["crowded_targets"] == [], "touch targets are at least 8 dp apart"
    assert facts["left_on_screen"] == [], "nothing about the patient is left in any widget"
    assert facts["journey_after"] == {"patient": None, "readings": 0, "session": None}
    alert = json.loads(seen_on_broker.read_text().splitlines()[0].split(" ", 1)[1])
    assert set(alert["body"]) == {"sealed"}  # the broker sees that an alert went, not what
    assert alert["kind"] == "urgent_result"
    assert "urgent_result blood_pressure, urgent" in practice.log()
    speech = list((artifacts_dir / "speech").glob("*.wav"))
    assert speech, "read aloud produced speech"
    screenshots = sorted(artifacts_dir.glob(f"*-{language}-*.png"))
    assert len(screenshots) >= 12
    for log in (
        the_agent.log(),
        practice.log(),
        (artifacts_dir / "kiosk-urgent_blood_pressure.log").read_text(),
    ):
        assert "9434765919" not in log
        assert "943 476 5919" not in log
        assert "186/121" not in log


def test_device_faults_and_an_agent_restart_get_clear_screens(
    display: str, enrol: Enrol, tmp_path: Path, artifacts_dir: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [IMPOSSIBLE, "disconnect", NORMAL])
    agents: list[Service] = [agent(config, tmp_path, name="agent-1").start()]

    def restart() -> None:
        agents[-1].kill()
        time.sleep(1.0)  # the UI sees the socket go and shows "reconnecting"
        # The second agent plays the rest of the script: a normal reading.
        kiosk_device(config, [NORMAL])
        agents.append(agent(config, tmp_path, name="agent-2").start())

    try:
        result = drive(display, config, "faults", artifacts_dir, restart=restart)
    finally:
        for one in agents:
            one.stop()
    texts = "\n".join(result["facts"]["result_texts"])
    assert "124/78" in texts
    assert any("reconnecting" in step for step in result["steps"])


def test_idle_warning_counts_down_extends_and_wipes(
    display: str, enrol: Enrol, tmp_path: Path, artifacts_dir: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [], idle_timeout_s=15, warning_s=20)
    the_agent = agent(config, tmp_path).start()
    try:
        result = drive(display, config, "idle_wipe", artifacts_dir)
    finally:
        the_agent.stop()
    assert result["facts"]["left_on_screen"] == []


def test_staff_screen_behind_a_long_press_and_pin_reports_an_unknown_language(
    display: str, enrol: Enrol, tmp_path: Path, artifacts_dir: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [], languages=["en", "xx", "ur"], staff_pin_hash=hash_pin("2468"))
    the_agent = agent(config, tmp_path).start()
    try:
        result = drive(display, config, "staff", artifacts_dir)
    finally:
        the_agent.stop()
    report = result["facts"]["staff_report"]
    assert "Device kiosk-1" in report
    assert "Outbox: " in report
    assert "Peripheral bp:" in report
    assert "'xx'" in report


def test_identify_screenshot_and_pushed_settings_reach_a_running_kiosk(  # noqa: PLR0917 - fixtures
    display: str,
    fleet: FleetLayout,
    broker: BrokerProcess,
    enrol: Enrol,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [], languages=["en", "ur", "bn"])
    the_agent = agent(config, tmp_path).start()
    seen: dict[str, Any] = {}

    def cmd(name: str, *extra: str) -> dict[str, Any]:
        result = run_cli(
            "healthhub-fleet", "cmd", "--fleet", str(fleet.root), "--device", "kiosk-1", name,
            "--wait", "--json", *extra, check=False, timeout=90,
        )  # fmt: skip
        return dict(json.loads(result.stdout))

    def remote() -> None:
        wait_until(lambda: connected(config), 60, "connected")
        seen["identify"] = cmd("identify", "--arg", "seconds=60")
        seen["screenshot"] = cmd("screenshot", "--output", str(artifacts_dir / "remote.png"))
        layer = tmp_path / "ui.yaml"
        layer.write_text(yaml.safe_dump({"ui": {"languages": ["en", "pl"]}}))
        pushed = run_cli(
            "healthhub-fleet", "config", "push", "--fleet", str(fleet.root),
            "--device", "kiosk-1", str(layer), "--wait", check=False, timeout=90,
        )  # fmt: skip
        seen["push"] = pushed.returncode

    def in_session() -> None:
        seen["refused"] = cmd("screenshot")

    try:
        result = drive(
            display,
            config,
            "remote_control",
            artifacts_dir,
            handlers={"remote": remote, "in-session": in_session},
        )
    finally:
        assert the_agent.stop() == 0
    facts = result["facts"]
    assert seen["identify"]["state"] == "succeeded"
    assert seen["identify"]["detail"]["screens"] == 1
    assert facts["identify_text"] == "This unit is kiosk-1"
    shot = seen["screenshot"]
    assert shot["state"] == "succeeded", shot
    png = (artifacts_dir / "remote.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert shot["detail"]["bytes"] == len(png)
    assert shot["detail"]["width"] > 100
    assert seen["push"] == 0
    assert facts["languages_before"] == ["en", "ur", "bn"]
    assert facts["language_buttons"] == ["language-en", "language-pl"]
    refused = seen["refused"]
    assert refused["state"] == "failed"
    assert "patient" in refused["reason"]
