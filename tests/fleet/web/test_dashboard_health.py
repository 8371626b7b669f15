"""The dashboard's fleet page shows each unit's Pi health; device-health alerts are for IT."""

from __future__ import annotations

import re
from pathlib import Path

from pi_sysfs import health_report

from healthhub.fleet.store import PracticeStore
from healthhub.fleet.web.app import create_app
from tests.fleet.web.dashboard_practice import Practice
from tests.fleet.web.test_dashboard import log_in

AT = "2026-11-23T11:00:00.000Z"


def test_the_fleet_page_marks_a_hot_unit_and_the_alert_names_the_check(
    practice: Practice, staff: dict[str, str], tmp_path: Path
) -> None:
    hot = health_report(tmp_path / "unit", celsius=86.0, throttled="throttled=0x50005\n")
    store = PracticeStore(practice.store_path)
    try:
        telemetry = {"at": AT, "device": "kiosk-a1", "site": "practice-a", "pi_health": hot}
        store.record_report("kiosk-a1", "telemetry", telemetry, AT)
        alert = practice.file(
            store, "kiosk-a1", "alerts/device_health",
            {"reason": "device_health", "check": "cpu_temperature", "level": "critical",
             "value": 86.0, "threshold": 85, "unit": "Cel",
             "summary": "CPU 86.0 °C (warning at 80 °C, critical at 85 °C)",
             "route": {"notify": ["it-support"]}},
            AT,
        )  # fmt: skip
    finally:
        store.close()
    assert "alice" in staff  # practice staff of practice-a
    client = create_app(practice.layout, str(practice.store_path)).test_client()
    assert log_in(client, "alice").status_code == 303
    page = client.get("/status").get_data(as_text=True)
    row = re.search(r'<tr id="device-kiosk-a1">(.*?)</tr>', page, re.S)
    assert row is not None
    cell = re.search(r'<td class="health">(.*?)</td>', row.group(1), re.S)
    assert cell is not None
    health = " ".join(cell.group(1).split())
    assert 'CPU 86 °C <span class="tag tag-critical">critical</span>' in health
    assert "Now: under voltage, throttled" in health
    assert 'Power <span class="tag tag-critical">critical</span>' in health
    other = re.search(r'<tr id="device-wall-a2">(.*?)</tr>', page, re.S)
    assert other is not None
    assert '<td class="health">-</td>' in other.group(1)  # never sent Pi health
    alerts = client.get("/alerts").get_data(as_text=True)
    listed = re.search(rf'<tr id="alert-{alert}"[^>]*>(.*?)</tr>', alerts, re.S)
    assert listed is not None
    assert "Unit health (for IT)" in listed.group(1)
    assert "cpu temperature (critical)" in listed.group(1)
    assert "CPU 86.0 °C" in listed.group(1)
