"""Signed content through mosquitto (TLS, ACLs): a folder pushed to a site lands whole on each
device, a device's own version wins per file, a corrupt blob never replaces good content, and
a device that was off catches up when it comes back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from processes import Enrol, agent, agent_status, configure, connected, run_cli, wait_until

from healthhub.fleet.console_session import ConsoleSession
from healthhub.protocol import content, topics
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def push(fleet: FleetLayout, where: list[str], folder: Path, *extra: str) -> Any:
    result = run_cli(
        "healthhub-fleet", "content", "push", "--fleet", str(fleet.root), *where, str(folder),
        "--wait", "--timeout", "60", "--json", *extra, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def served(config: Path) -> dict[str, bytes]:
    """Every file the device serves now, by path."""
    current = config.parent / "state" / "content" / "current"
    if not current.exists():
        return {}
    return {
        str(path.relative_to(current)): path.read_bytes()
        for path in sorted(current.rglob("*"))
        if path.is_file()
    }


def content_state(config: Path, level: str) -> dict[str, Any]:
    summary = agent_status(config).get("content") or {}
    return dict((summary.get("layers") or {}).get(level) or {})


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def test_content_is_fetched_checked_switched_whole_and_caught_up(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    kiosk = enrol("kiosk-1", role="kiosk", simulate=False)
    wall = enrol("wall-1", simulate=False)
    for config in (kiosk, wall):
        configure(config, telemetry={"interval_s": 0.3}, content={"fetch_window": 4})
    picture = os.urandom(500 * 1024)  # three chunks
    site_files = {
        "pages/blood-pressure.md": b"# Blood pressure\n\nSit still, feet flat.\n",
        "pictures/cuff.png": picture,
        "signposting/walking-group.json": b'{"name": "Walking group", "when": "Tue 10:00"}',
        "pages/empty.md": b"",
    }
    site_folder = write_folder(tmp_path / "site", site_files)
    running = [agent(kiosk, tmp_path).start(), agent(wall, tmp_path).start()]
    try:
        for config in (kiosk, wall):
            wait_until(lambda c=config: connected(c), 60, f"{config.parent.name} connected")
        outcome = push(fleet, ["--site", "practice-a"], site_folder)
        assert sorted(outcome["applied"]) == ["kiosk-1", "wall-1"], outcome
        for config in (kiosk, wall):
            wait_until(lambda c=config: served(c) == site_files, 30, "the site's files served")

        # A device layer wins per file, on that device only.
        own = write_folder(tmp_path / "own", {"pages/blood-pressure.md": b"# Kiosk 1 only\n"})
        outcome = push(fleet, ["--device", "kiosk-1"], own)
        assert outcome["applied"] == ["kiosk-1"], outcome
        wait_until(
            lambda: served(kiosk)["pages/blood-pressure.md"] == b"# Kiosk 1 only\n",
            30,
            "the device's own page",
        )
        assert served(kiosk)["pictures/cuff.png"] == picture
        assert served(wall) == site_files

        # A corrupt blob: the manifest is rejected and the good content stays.
        good = served(kiosk)
        new_page = b"# A page whose blob is damaged on the broker\n"
        described = content.describe("pages/new.md", new_page)
        session = ConsoleSession(fleet, "test")
        try:
            session.client.publish(
                topics.content_blob(described.chunks[0]), b"garbage", qos=1, retain=True
            ).wait_for_publish(10)
            scope = Scope("device", "kiosk-1")
            manifest = content.make(scope, 2, "2026-11-23T12:00:00Z", [described])
            session.client.publish(
                scope.content_topic(),
                content.encode(manifest, read_key(fleet.signing_key)),
                qos=1,
                retain=True,
            ).wait_for_publish(10)
        finally:
            session.close()
        wait_until(
            lambda: content_state(kiosk, "device").get("state") == "rejected",
            30,
            "the corrupt blob rejected",
        )
        assert content_state(kiosk, "device")["held"] == 1
        assert served(kiosk) == good

        # wall-1 is off while the fleet gets new content; it catches up when it comes back.
        assert running[1].stop() == 0
        fleet_folder = write_folder(
            tmp_path / "fleet-content", {"pages/opening-hours.md": b"Mon-Fri\n"}
        )
        outcome = push(fleet, ["--fleet-wide"], fleet_folder, "--timeout", "10")
        assert outcome["pending"] == ["wall-1"], outcome
        running.append(agent(wall, tmp_path, name="agent-wall-1-again").start())
        wait_until(
            lambda: served(wall).get("pages/opening-hours.md") == b"Mon-Fri\n",
            60,
            "wall-1 to catch up",
        )
        assert served(wall)["pictures/cuff.png"] == picture  # the site's files stay too
        disk = agent_status(wall)["content"]["disk"]
        assert disk["budget"] > disk["bytes"] > len(picture)
        status = ["healthhub-fleet", "status", "--fleet", str(fleet.root), "--wait", "3"]

        def rows() -> dict[str, Any]:
            return {r["device"]: r for r in json.loads(run_cli(*status, "--json").stdout)}

        # served() sees the switch a moment before the device's retained report says so
        found = wait_until(
            lambda: (r := rows())["wall-1"]["content"]["fleet"]["held"] == 1 and r,
            30,
            "wall-1's report of the fleet content",
        )
        assert found["kiosk-1"]["content"]["device"]["state"] == "rejected"
        table = run_cli(*status).stdout
        assert "1/1/1!" in table  # kiosk-1: its last device push was rejected
        assert "1/1/-" in table  # wall-1
    finally:
        for service in running:
            service.stop()

    bad = write_folder(tmp_path / "bad", {".hidden": b"x"})
    refused = run_cli(
        "healthhub-fleet", "content", "push", "--fleet", str(fleet.root), "--fleet-wide",
        str(bad), check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert ".hidden" in refused.stderr
