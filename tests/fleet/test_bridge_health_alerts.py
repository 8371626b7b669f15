"""The bridge files a unit's device-health alert for IT, and refuses one that carries more.

No broker: the bridge's filing step (``Bridge.file_batch``) is driven with alerts as a unit
sends them, sealed to the fleet's real ingest key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processes import Enrol, run_cli

from healthhub.fleet.bridge import Bridge, Incoming
from healthhub.fleet.store import PracticeStore
from healthhub.protocol import topics
from healthhub.protocol.envelope import Envelope, seal_envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer

BODY: dict[str, Any] = {
    "reason": "device_health",
    "check": "sd_wear",
    "level": "critical",
    "value": 100,
    "threshold": 90,
    "unit": "%",
    "summary": "mmcblk0: life used at least 100%, pre-EOL urgent",
    "route": {"notify": ["it-support"], "escalate_after_s": 3600,
              "escalate_to": ["practice-manager"]},
}  # fmt: skip


def alert(layout: FleetLayout, seq: int, body: dict[str, Any]) -> Incoming:
    clear = Envelope(
        id=str(uuid7()),
        device="wall-1",
        site="practice-a",
        seq=seq,
        stream="alerts",
        kind="device_health",
        at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        body=body,
    )
    sealed = seal_envelope(Sealer(read_key(layout.ingest_pub)), clear)
    return Incoming(topics.up("wall-1", "alerts"), sealed.to_bytes(), mid=seq, qos=1)


def test_a_health_alert_is_filed_and_listed_for_it_and_one_with_patient_data_refused(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-1")
    path = tmp_path / "practice.sqlite"
    store = PracticeStore(path)
    bridge = Bridge(fleet, store)
    try:
        bridge.file_batch([alert(fleet, 1, BODY)])
        sneaky = {**BODY, "patient": {"nhs_number": "9434765919"}}
        bridge.file_batch([alert(fleet, 2, sneaky)])
        (filed,) = store.alerts()
    finally:
        bridge.close()
        store.close()
    assert bridge.counters.rejected == {"malformed": 1}
    assert (filed["reason"], filed["check"], filed["level"]) == ("device_health", "sd_wear",
                                                                 "critical")  # fmt: skip
    assert filed["summary"] == BODY["summary"]
    assert filed["measure"] is None
    assert filed["route"]["notify"] == ["it-support"]
    shown = run_cli("healthhub-fleet", "alerts", "--store", str(path)).stdout
    assert "device_health  sd_wear critical" in shown
    assert "9434765919" not in shown
