"""PLX Spot-Check (0x2A5E) and PLX Continuous (0x2A5F) Measurement (GSS 3.168, 3.167).

Spot-check flags (uint8): bit 0 time stamp; bit 1 measurement status; bit 2 device and
sensor status; bit 3 pulse amplitude index; bit 4 device clock not set. Fields: SpO2 and
pulse rate (SFLOAT), time stamp, measurement status (uint16), device and sensor status
(24 bits), pulse amplitude index (SFLOAT).

Continuous flags (uint8): bit 0 SpO2PR-Fast; bit 1 SpO2PR-Slow; bit 2 measurement status;
bit 3 device and sensor status; bit 4 pulse amplitude index. Fields: SpO2PR-Normal (two
SFLOAT), then the fast and slow pairs, status fields and index as flagged.

Measurement status bits used here: 5 measurement ongoing, 6 early estimated data,
7 validated data, 8 fully qualified data, 9 data from measurement storage, 10 data for
demonstration, 11 data for testing, 12 calibration ongoing, 13 measurement unavailable,
14 questionable measurement detected, 15 invalid measurement detected. A reading flagged
unavailable, invalid or for demonstration/testing is not a reading of a patient.
"""

from __future__ import annotations

from datetime import datetime

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.errors import NotAValue
from healthhub.drivers.gatt.fields import Frame

SPOT = "ble.pulse_oximeter_spot"
CONTINUOUS = "ble.pulse_oximeter_continuous"

_NOTES = {
    5: "measurement_ongoing",
    6: "early_estimate",
    9: "from_storage",
    12: "calibration_ongoing",
    14: "questionable",
}
_NOT_A_READING = {
    13: "measurement unavailable",
    15: "invalid measurement",
    10: "demonstration data",
    11: "test data",
}


def _status(frame: Frame, notes: list[str]) -> None:
    status = frame.u16("measurement status")
    for bit, reason in _NOT_A_READING.items():
        if status & (1 << bit):
            raise NotAValue(f"{frame.name}: the oximeter flags {reason}")
    notes.extend(name for bit, name in _NOTES.items() if status & (1 << bit))


def _reading(
    frame: Frame,
    spo2: float,
    pulse: float,
    notes: list[str],
    pai: float | None,
    *,
    taken_at: datetime | None = None,
) -> DecodedReading:
    value = checked("oxygen_saturation", frame.name, spo2=spo2, pulse=pulse)
    details = {} if pai is None else {"pulse_amplitude_index": pai}
    return DecodedReading(value, taken_at, None, tuple(notes), details)


def decode_spot(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), SPOT)
    flags = frame.u8("flags")
    spo2, pulse = frame.sfloat("SpO2"), frame.sfloat("pulse rate")
    taken_at = frame.timestamp() if frame.flag(flags, 0) else None
    notes: list[str] = []
    if frame.flag(flags, 1):
        _status(frame, notes)
    if frame.flag(flags, 2):
        frame.u24("device and sensor status")
    pai = frame.sfloat("pulse amplitude index") if frame.flag(flags, 3) else None
    if frame.flag(flags, 4):
        notes.append("device_clock_not_set")
        taken_at = None  # a time from a clock never set is not a time
    return _reading(frame, spo2, pulse, notes, pai, taken_at=taken_at)


def decode_continuous(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), CONTINUOUS)
    flags = frame.u8("flags")
    spo2, pulse = frame.sfloat("SpO2 (normal)"), frame.sfloat("pulse rate (normal)")
    if frame.flag(flags, 0):
        frame.sfloat("SpO2 (fast)")
        frame.sfloat("pulse rate (fast)")
    if frame.flag(flags, 1):
        frame.sfloat("SpO2 (slow)")
        frame.sfloat("pulse rate (slow)")
    notes: list[str] = []
    if frame.flag(flags, 2):
        _status(frame, notes)
    if frame.flag(flags, 3):
        frame.u24("device and sensor status")
    pai = frame.sfloat("pulse amplitude index") if frame.flag(flags, 4) else None
    return _reading(frame, spo2, pulse, notes, pai)
