"""The bridge files form submissions exactly once, and refuses one it cannot understand.

No broker: the bridge's filing step (``Bridge.file_batch``) is driven with the messages a
device sends, sealed to the fleet's real ingest key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processes import Enrol

from healthhub.fleet.bridge import Bridge, Incoming
from healthhub.fleet.store import PracticeStore
from healthhub.protocol import topics
from healthhub.protocol.envelope import Envelope, seal_envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer

BODY: dict[str, Any] = {
    "form": "change-of-details",
    "version": 1,
    "purpose": "change_of_details",
    "language": "pl",
    "answers": {"details": ["address"], "postcode": "SW1A 2AA"},
    "scores": {},
    "bands": {},
    "actions": [],
    "session": str(uuid7()),
    "patient": {"nhs_number": "9434765919", "birth_date": "1950-03-01"},
}


def message(layout: FleetLayout, seq: int, body: dict[str, Any], envelope_id: str) -> Incoming:
    clear = Envelope(
        id=envelope_id,
        device="kiosk-1",
        site="practice-a",
        seq=seq,
        stream="submissions",
        kind="change_of_details",
        at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        body=body,
    )
    sealed = seal_envelope(Sealer(read_key(layout.ingest_pub)), clear)
    return Incoming(topics.up("kiosk-1", "submissions"), sealed.to_bytes(), mid=seq, qos=1)


def test_a_submission_sent_twice_is_filed_once_and_a_malformed_one_is_refused(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("kiosk-1", role="kiosk")
    store = PracticeStore(tmp_path / "practice.sqlite")
    bridge = Bridge(fleet, store)
    try:
        first = message(fleet, 1, BODY, str(uuid7()))
        bridge.file_batch([first])
        bridge.file_batch([first])  # the device did not see the ack and sent it again
        broken = {k: v for k, v in BODY.items() if k != "answers"}
        bridge.file_batch([message(fleet, 2, broken, str(uuid7()))])
        filed = list(store.submissions())
    finally:
        bridge.close()
        store.close()
    assert len(filed) == 1
    assert filed[0]["body"] == BODY  # opened at the practice, as the patient sent it
    assert bridge.counters.duplicates == 1
    assert bridge.counters.rejected == {"malformed": 1}
