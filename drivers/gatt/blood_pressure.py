"""Blood Pressure Measurement, 0x2A35 (GATT Specification Supplement 3.31).

flags (uint8): bit 0 units (0 mmHg, 1 kPa); bit 1 time stamp; bit 2 pulse rate; bit 3 user
id; bit 4 measurement status. Then systolic, diastolic, mean arterial pressure (SFLOAT, in
the flagged unit), time stamp (Date Time, 7 bytes), pulse rate (SFLOAT, /min), user id
(uint8), measurement status (uint16): bit 0 body movement, bit 1 cuff too loose, bit 2
irregular pulse, bits 3-4 pulse rate range (0 in range, 1 above upper limit, 2 below lower
limit), bit 5 improper measurement position.
"""

from __future__ import annotations

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.gatt.fields import Frame

NAME = "ble.blood_pressure"
MMHG_PER_KPA = 7.500617  # 1 kPa = 7.500617 mmHg (BIPM SI brochure: 1 mmHg = 133.322 Pa)

_STATUS = ((0, "body_movement"), (1, "cuff_too_loose"), (2, "irregular_pulse"))
_PULSE_RANGE = {1: "pulse_above_range", 2: "pulse_below_range", 3: "pulse_range_reserved"}


def decode(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), NAME)
    flags = frame.u8("flags")
    kpa = frame.flag(flags, 0)
    pressures = [frame.sfloat(what) for what in ("systolic", "diastolic", "mean arterial")]
    if kpa:
        pressures = [round(p * MMHG_PER_KPA, 1) for p in pressures]
    systolic, diastolic, mean_arterial = pressures
    taken_at = frame.timestamp() if frame.flag(flags, 1) else None
    pulse = frame.sfloat("pulse rate") if frame.flag(flags, 2) else None
    user = frame.u8("user id") if frame.flag(flags, 3) else None
    notes: list[str] = []
    if frame.flag(flags, 4):
        status = frame.u16("measurement status")
        notes = [name for bit, name in _STATUS if status & (1 << bit)]
        pulse_range = (status >> 3) & 0b11
        if pulse_range:
            notes.append(_PULSE_RANGE[pulse_range])
        if status & (1 << 5):
            notes.append("improper_position")
    value = checked(
        "blood_pressure",
        NAME,
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=mean_arterial,
        pulse=pulse,
    )
    details = {"unit_sent": "kPa" if kpa else "mmHg"}
    return DecodedReading(value, taken_at, user, tuple(notes), details)
