"""A small practice for the dashboard's tests: two sites, three units, alerts, staff.

Envelopes are filed as the bridge files them (clear bodies); statuses and telemetry are
recorded as the bridge records them. Some of what is filed identifies a patient or holds a
value (an NHS number, a blood pressure): the tests check that no page ever shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processes import Enrol

from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7

PASSWORD = "correct horse battery staple 7"
NHS_NUMBER = "9434765919"
PATIENT_NAME = "Marjorie Testpatient"
SYSTOLIC = 187  # a value that must stay in the record, not on a page
SITES = {"kiosk-a1": "practice-a", "wall-a2": "practice-a", "kiosk-b1": "practice-b"}
#: name -> (role, sites)
STAFF = {
    "admin": ("fleet_admin", []),
    "alice": ("practice_staff", ["practice-a"]),
    "victor": ("viewer", ["practice-a"]),
    "bob": ("practice_staff", ["practice-b"]),
}


@dataclass
class Practice:
    layout: FleetLayout
    store_path: Path
    alerts: dict[str, str] = field(default_factory=dict)  # name -> alert id
    seq: dict[str, int] = field(default_factory=dict)

    def file(
        self, store: PracticeStore, device: str, what: str, body: dict[str, Any], at: str
    ) -> str:
        """File an envelope of ``what`` (``stream/kind``) from ``device``; its id."""
        stream, kind = what.split("/")
        self.seq[device] = self.seq.get(device, 0) + 1
        envelope = Envelope(
            str(uuid7()), device, SITES[device], self.seq[device], stream, kind, at, {"sealed": "x"}
        )
        store.file([Filed(envelope, body, at)])
        return envelope.id


def telemetry(device: str, site: str, at: str, depth: int) -> dict[str, Any]:
    """Telemetry as the agent sends it (the parts the dashboard reads, and a few more)."""
    return {
        "at": at,
        "device": device,
        "site": site,
        "version": "0.1.0",
        "uptime_s": 3600.0,
        "outbox": {"depth": depth, "oldest_age_s": 42.5 if depth else None, "last_seq": 9,
                   "confirmed_seq": 9 - depth},
        "link": {"state": "connected"},
        "peripherals": {
            "bp": {"driver": "blood_pressure", "backend": "simulator", "state": "waiting",
                   "detail": "", "restarts": 0, "readings": 4, "signals": 0, "battery": 80},
            "scale": {"driver": "scale", "backend": "simulator", "state": "error",
                      "detail": "scale not found on /dev/ttyUSB0", "restarts": 3,
                      "readings": 0, "signals": 0, "battery": None},
        },
        "content": {"layers": {"fleet": {"held": 4, "state": "applied"},
                               "site": {"held": 2, "state": "applied"}}},
        "versions": {"healthhub": "0.1.0", "python": "3.11"},
    }  # fmt: skip


def make_practice(fleet: FleetLayout, enrol: Enrol, store_path: Path) -> Practice:
    """Enrol the units and fill a store at ``store_path``."""
    enrol("kiosk-a1", site="practice-a", role="kiosk")
    enrol("wall-a2", site="practice-a")
    enrol("kiosk-b1", site="practice-b", role="kiosk")
    found = Practice(fleet, store_path)
    store = PracticeStore(found.store_path)
    try:
        day = "2026-11-23T"
        for device, site, state in (
            ("kiosk-a1", "practice-a", "online"),
            ("wall-a2", "practice-a", "offline"),
            ("kiosk-b1", "practice-b", "online"),
        ):
            status = {"state": state, "device": device, "site": site, "at": day + "09:00:00.000Z"}
            store.record_report(device, "status", status, day + "09:00:01.000Z")
        store.record_report(
            "kiosk-a1", "telemetry", telemetry("kiosk-a1", "practice-a", day + "10:30:00.000Z", 3),
            day + "10:30:01.000Z",
        )  # fmt: skip
        layers = {"fleet": {"held": 7, "state": "applied"}, "site": {"held": 3, "state": "applied"}}
        store.record_report("kiosk-a1", "config", {"layers": layers}, day + "10:30:02.000Z")
        store.record_report(
            "kiosk-b1", "telemetry", telemetry("kiosk-b1", "practice-b", day + "10:31:00.000Z", 0),
            day + "10:31:01.000Z",
        )  # fmt: skip
        reading = found.file(
            store, "kiosk-a1", "readings/blood_pressure",
            {"components": [{"code": "systolic", "value": SYSTOLIC, "unit": "mm[Hg]"},
                            {"code": "diastolic", "value": 121, "unit": "mm[Hg]"}]},
            day + "10:00:00.000Z",
        )  # fmt: skip
        found.file(
            store, "kiosk-a1", "submissions/readings_to_record",
            {"patient": {"nhs_number": NHS_NUMBER, "name": PATIENT_NAME}, "readings": [reading],
             "consent": "file_in_gp_record"},
            day + "10:01:00.000Z",
        )  # fmt: skip
        found.alerts["a_urgent"] = found.file(
            store, "kiosk-a1", "alerts/urgent_result",
            {"reason": "urgent_result", "reading": reading, "measure": "blood_pressure",
             "level": "urgent", "session": str(uuid7())},
            day + "10:02:00.000Z",
        )  # fmt: skip
        found.alerts["a_help"] = found.file(
            store, "wall-a2", "alerts/help_requested",
            {"reason": "help_requested", "source": "button:help"}, day + "10:05:00.000Z",
        )  # fmt: skip
        found.alerts["a_form"] = found.file(
            store, "kiosk-a1", "alerts/form_action",
            {"reason": "form_action", "form": "phq-9", "action": "same_day_callback",
             "answers": {"q9": "nearly_every_day"}},
            day + "10:07:00.000Z",
        )  # fmt: skip
        found.alerts["a_done"] = found.file(
            store, "kiosk-a1", "alerts/help_requested",
            {"reason": "help_requested", "source": "screen"}, day + "09:30:00.000Z",
        )  # fmt: skip
        store.acknowledge_alert(found.alerts["a_done"], "carol", at=day + "09:42:00.000Z")
        found.alerts["b_urgent"] = found.file(
            store, "kiosk-b1", "alerts/urgent_result",
            {"reason": "urgent_result", "reading": str(uuid7()), "measure": "spo2",
             "level": "high"},
            day + "10:03:00.000Z",
        )  # fmt: skip
        assert store.mark_escalated(found.alerts["a_urgent"], 1, day + "10:07:00.000Z")
    finally:
        store.close()
    return found
