"""Small clear-text messages: device status (birth/will), telemetry, and the bridge's ack."""

from __future__ import annotations

from typing import Any

from healthhub.protocol import canonical
from healthhub.protocol.errors import MalformedMessage

ONLINE = "online"
OFFLINE = "offline"


def status_payload(state: str, *, device: str, site: str, at: str, **extra: Any) -> bytes:
    """A retained status: the birth (``online``) or the Last Will / clean shutdown (``offline``)."""
    if state not in (ONLINE, OFFLINE):
        raise ValueError(f"status state must be online or offline, not {state!r}")
    return canonical.dumps({"state": state, "device": device, "site": site, "at": at, **extra})


def parse_status(payload: bytes) -> dict[str, Any]:
    status = canonical.loads_object(payload, what="status")
    if status.get("state") not in (ONLINE, OFFLINE):
        raise MalformedMessage("status state must be online or offline")
    return status


def parse_telemetry(payload: bytes) -> dict[str, Any]:
    telemetry = canonical.loads_object(payload, what="telemetry")
    if not isinstance(telemetry.get("at"), str):
        raise MalformedMessage("telemetry has no timestamp")
    return telemetry


def ack_payload(seq: int) -> bytes:
    """The bridge's confirmation: every message up to ``seq`` is committed at the practice."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError("ack seq must be a non-negative integer")
    return canonical.dumps({"seq": seq})


def parse_ack(payload: bytes) -> int:
    ack = canonical.loads_object(payload, what="ack")
    seq = ack.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise MalformedMessage("ack seq must be a non-negative integer")
    return seq
