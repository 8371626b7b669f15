"""Pushed content in the patient UI, in a real window (Xvfb), against real parts.

The starter content (``fleet/starter_content``: the shipped forms, information pages,
services, support sessions and notices) is pushed through the real broker to a real agent
with ``healthhub-fleet content push``; the kiosk driver then touches its way through forms
and pages. What leaves the unit is checked where the practice sees it: an independent MQTT
subscriber (sealed alerts) and the bridge's store (decrypted submissions and usage).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_clients import subscriber
from processes import Enrol, Service, agent, bridge, configure, connected, run_cli, wait_until

from healthhub.drivers.serial.printer_simulator import PtyPrinter
from healthhub.fleet.store import open_readonly
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess
from tests.system.test_kiosk import drive, kiosk_device

pytestmark = pytest.mark.system

STARTER = Path(__file__).resolve().parents[2] / "fleet" / "starter_content"


@contextlib.contextmanager
def kiosk_with_content(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path, *, printer: str | None = None
) -> Iterator[tuple[Path, Path, list[Service]]]:
    """kiosk-1 with a bridge and its agent running and the starter content served (and a
    receipt printer at ``printer``): yields (device.yaml, the practice store, [bridge,
    agent]); stops them after."""
    config = enrol("kiosk-1", role="kiosk")
    kiosk_device(config, [])
    if printer is not None:
        configure(config, printer={"port": printer, "width_chars": 48})
    store = tmp_path / "practice.sqlite"
    running: list[Service] = [bridge(fleet.root, store, tmp_path).start()]
    running.append(agent(config, tmp_path).start())
    try:
        serve_starter_content(fleet, config)
        yield config, store, running
    finally:
        for service in reversed(running):
            service.stop()


def serve_starter_content(fleet: FleetLayout, config: Path) -> None:
    """Push the starter content to kiosk-1 and wait until it serves it."""
    wait_until(lambda: connected(config), 60, "the agent connected")
    result = run_cli(
        "healthhub-fleet", "content", "push", "--fleet", str(fleet.root), "--device", "kiosk-1",
        str(STARTER), "--wait", "--timeout", "90", "--json", check=False, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def stored(store: Path, stream: str) -> list[dict[str, Any]]:
    practice = open_readonly(store)
    try:
        return list(practice.envelopes(stream))
    finally:
        practice.close()


def test_phq9_item_9_shows_crisis_signposting_and_alerts_the_practice(  # noqa: PLR0917 - fixtures
    display: str,
    fleet: FleetLayout,
    broker: BrokerProcess,
    enrol: Enrol,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    on_broker = tmp_path / "alerts.txt"
    watcher = subscriber(fleet, "console", "healthhub/v1/devices/kiosk-1/up/alerts", on_broker)
    try:
        with kiosk_with_content(fleet, enrol, tmp_path) as (config, store, running):
            result = drive(display, config, "phq9_crisis", artifacts_dir)
            wait_until(lambda: on_broker.exists() and on_broker.read_text(), 20, "the alert")
            wait_until(lambda: stored(store, "submissions"), 30, "the submission filed")
            wait_until(lambda: stored(store, "usage"), 30, "the visit counted")
            practice_log = running[0].log()
            agent_log = running[1].log()
    finally:
        watcher.terminate()
    facts = result["facts"]
    crisis = "\n".join(facts["signpost_texts"])
    assert "116 123" in crisis  # Samaritans
    assert "111" in crisis  # NHS 111 ...
    assert "option 2" in crisis  # ... its mental health option
    assert "reception" in crisis
    assert "We have told the staff" in crisis
    alert = json.loads(on_broker.read_text().splitlines()[0].split(" ", 1)[1])
    assert alert["kind"] == "form_action"
    assert set(alert["body"]) == {"sealed"}  # the broker sees an alert went, not why
    assert "form_action phq-9, item-9-crisis, urgent" in practice_log
    listed = run_cli("healthhub-fleet", "alerts", "--store", str(store)).stdout
    (line,) = [line for line in listed.splitlines() if "practice-a/kiosk-1" in line]
    assert line.split()[2:7] == ["form_action", "phq-9", "item-9-crisis", "urgent", "OPEN"]
    (submission,) = stored(store, "submissions")
    body = submission["body"]
    assert submission["kind"] == "questionnaire"
    assert body["form"] == "phq-9"
    assert body["answers"]["q9"] == "several_days"
    assert body["scores"] == {"total": 6}  # 0+1+0+2+1+0+1+0 and q9 1
    assert body["bands"]["total"].lower().startswith("mild")
    assert "item-9-crisis" in body["actions"]
    assert "patient" not in body  # the patient did not give their details
    assert facts["scores"] == {"total": 6}
    usage = [u["body"] for u in stored(store, "usage") if u["kind"] == "session"]
    assert usage[-1]["forms"] == [{"form": "phq-9", "outcome": "completed", "page": ""}]
    assert usage[-1]["forms_submitted"] == 1
    assert "signpost" in usage[-1]["screens"]
    for log in (agent_log, practice_log):
        assert "several_days" not in log


def test_change_of_details_reaches_the_practice_sealed_with_the_right_fields(  # noqa: PLR0917 - fixtures
    display: str,
    fleet: FleetLayout,
    broker: BrokerProcess,
    enrol: Enrol,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    with kiosk_with_content(fleet, enrol, tmp_path) as (config, store, running):
        result = drive(display, config, "change_details", artifacts_dir, touch_keyboard=True)
        wait_until(lambda: stored(store, "submissions"), 30, "the submission filed")
        logs = [service.log() for service in running]
    facts = result["facts"]
    assert facts["postcode_error"] == "bad_postcode"
    assert facts["left_on_screen"] == []
    (submission,) = stored(store, "submissions")
    assert submission["kind"] == "change_of_details"
    body = submission["body"]
    assert body["patient"] == {"nhs_number": "9434765919", "birth_date": "1950-03-01"}
    answers = body["answers"]
    assert sorted(answers["details"]) == ["address", "phone"]
    assert answers["postcode"] == "SW1A 2AA"  # normalised by the form's format
    assert answers["address_line_1"] == "10 Downing Street"
    assert answers["town"] == "London"
    assert answers["texts_ok"] is True
    assert answers["phone_number"].replace(" ", "") == "07700900461"
    assert "email_address" not in answers  # a page the patient never saw
    for log in logs:
        assert "9434765919" not in log
        assert "Downing" not in log


def test_browsing_services_and_information_in_polish(  # noqa: PLR0917 - fixtures
    display: str,
    fleet: FleetLayout,
    broker: BrokerProcess,
    enrol: Enrol,
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    with (
        PtyPrinter() as printer,
        kiosk_with_content(fleet, enrol, tmp_path, printer=printer.path) as (config, store, _),
    ):
        result = drive(display, config, "browse_services", artifacts_dir, language="pl")
        wait_until(lambda: stored(store, "usage"), 30, "the visit counted")
        printed = printer.pages()
    facts = result["facts"]
    services = "\n".join(facts["services_texts"])
    assert "Pokaż na mapie" in services  # the UI's own words, in Polish
    assert facts["services_shown"], "the first group lists services"
    page = "\n".join(facts["page_texts"])
    assert "ciśnienie" in page.lower() or "waga" in page.lower() or "pal" in page.lower()
    assert facts["qr_shown"]
    (page,) = printed  # touched "print" once: one page, in Polish, with the page's QR code
    assert page.text[0] == facts["page_title"]
    assert [qr.data.decode() for qr in page.qr_codes] == [facts["page_url"]]
    usage = [u["body"] for u in stored(store, "usage") if u["kind"] == "session"][-1]
    assert usage["language"] == "pl"
    assert usage["services"]["categories"]
    assert usage["pages"]
    assert usage["support"]["viewed"] is True
    assert usage["printed"] == 1
    assert usage["forms"] == []
