"""The Bluetooth health profiles we drive: which service, which characteristic, which decoder.

Sources (Bluetooth SIG specifications, bluetooth.com/specifications; document names and
versions are given, and GSS section numbers as the decoders cite them; where this table
states a behaviour it is the specification's, paraphrased):

- UUIDs: *Assigned Numbers* (2024), "GATT Services" and "Characteristics"; a 16-bit UUID
  stands for ``0000xxxx-0000-1000-8000-00805f9b34fb`` (Core Specification 5.4, Vol 3,
  Part B, "UUID").
- Blood Pressure Service (BLS) 1.1.1: Blood Pressure Measurement 0x2A35 is *indicated*.
  Blood Pressure Profile (BLP) 1.1.1: the Sensor sends stored measurements once the
  Collector configures indications, then may disconnect. No RACP.
- Weight Scale Service (WSS) 1.0 / Profile (WSP) 1.0: Weight Measurement 0x2A9D is
  *indicated*; stored measurements follow on connection. No RACP.
- Health Thermometer Service (HTS) 1.0 / Profile (HTP) 1.0: Temperature Measurement 0x2A1C
  is *indicated*; stored measurements follow on connection. No RACP.
- Pulse Oximeter Service (PLXS) 1.0.1, "Service Characteristics": PLX Spot-check
  Measurement 0x2A5E is *indicated*; PLX Continuous Measurement 0x2A5F is *notified*; PLX
  Features 0x2A60 (bit 2: measurement storage for spot-check measurements); Record Access
  Control Point 0x2A52, present when storage is supported, with Report Stored Records,
  Delete Stored Records, Abort Operation and Report Number of Stored Records, operator "All
  records" only (the RACP format is GSS 3.178, :mod:`healthhub.drivers.ble.racp`). Pulse
  Oximeter Profile (PLXP) 1.0.1, Collector requirements: stored spot-check records are
  retrieved with RACP, and deleted by the Collector once it holds them.
- Heart Rate Service (HRS) 1.0: Heart Rate Measurement 0x2A37 is *notified*. Decode-only
  here: no driver family measures heart rate on its own (KINDS_BY_DRIVER).
- Battery Service (BAS) 1.0: Battery Level 0x2A19 (uint8, percent 0-100), optional in every
  device above; read once per connection where the device offers it.

The frame formats are the decoders' (:mod:`healthhub.drivers.gatt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from healthhub.drivers.decoded import FrameDecoder
from healthhub.drivers.gatt.decoders import GATT_DECODERS

BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
RACP = 0x2A52  # Record Access Control Point (GSS 3.178)

_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"  # the Bluetooth Base UUID after its first group


def uuid16(short: int) -> str:
    """The 128-bit UUID string of a SIG-assigned 16-bit UUID (as bleak spells it)."""
    return f"0000{short:04x}{_BASE_SUFFIX}"


def short_uuid(uuid: str) -> int | None:
    """The 16-bit value of a SIG-based UUID string, or None for any other UUID."""
    text = uuid.lower()
    if len(text) == 36 and text.startswith("0000") and text[8:] == _BASE_SUFFIX:
        try:
            return int(text[4:8], 16)
        except ValueError:
            return None
    return None


def _decoder(characteristic: int) -> FrameDecoder:
    return next(d for d in GATT_DECODERS if d.uuid == characteristic)


@dataclass(frozen=True)
class Channel:
    """A measurement characteristic and how it reaches us."""

    characteristic: int
    decoder: FrameDecoder
    indicated: bool  # indications are acknowledged by the stack; notifications are not


@dataclass(frozen=True)
class GattProfile:
    family: str | None  # the driver family (KINDS_BY_DRIVER); None: decode only
    title: str
    service: int
    channels: Mapping[str, Channel]  # by mode; the first is the default
    racp_mode: str | None = None  # the mode whose stored records RACP reports (PLX: spot)

    @property
    def default_mode(self) -> str:
        return next(iter(self.channels))

    @property
    def service_uuid(self) -> str:
        return uuid16(self.service)


def _single(characteristic: int, *, indicated: bool) -> Mapping[str, Channel]:
    return {"measurement": Channel(characteristic, _decoder(characteristic), indicated)}


#: Every profile, in the order ``scan`` tries them against an advertisement.
PROFILES: tuple[GattProfile, ...] = (
    GattProfile("blood_pressure", "Blood Pressure", 0x1810, _single(0x2A35, indicated=True)),
    GattProfile("scale", "Weight Scale", 0x181D, _single(0x2A9D, indicated=True)),
    GattProfile("thermometer", "Health Thermometer", 0x1809, _single(0x2A1C, indicated=True)),
    GattProfile(
        "pulse_oximeter",
        "Pulse Oximeter",
        0x1822,
        {
            "spot": Channel(0x2A5E, _decoder(0x2A5E), indicated=True),
            "continuous": Channel(0x2A5F, _decoder(0x2A5F), indicated=False),
        },
        racp_mode="spot",
    ),
    GattProfile(None, "Heart Rate", 0x180D, _single(0x2A37, indicated=False)),
)

#: The profiles a peripheral can be declared with (``backend: ble``), by driver family.
BY_FAMILY: Mapping[str, GattProfile] = {p.family: p for p in PROFILES if p.family is not None}


def profile_for_services(service_uuids: list[str] | tuple[str, ...]) -> GattProfile | None:
    """The first drivable profile among advertised service UUIDs, or None."""
    advertised = {short_uuid(u) for u in service_uuids}
    for profile in PROFILES:
        if profile.family is not None and profile.service in advertised:
            return profile
    return None
