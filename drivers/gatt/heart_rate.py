"""Heart Rate Measurement, 0x2A37 (GATT Specification Supplement 3.113).

flags (uint8): bit 0 value format (0 uint8, 1 uint16); bits 1-2 sensor contact (bit 2
supported, bit 1 detected); bit 3 energy expended (uint16, kJ); bit 4 RR-intervals (uint16
each, 1/1024 s, to the end of the frame).
"""

from __future__ import annotations

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.gatt.fields import Frame

NAME = "ble.heart_rate"


def decode(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), NAME)
    flags = frame.u8("flags")
    rate = frame.u16("heart rate") if frame.flag(flags, 0) else frame.u8("heart rate")
    notes: list[str] = []
    if frame.flag(flags, 2) and not frame.flag(flags, 1):
        notes.append("no_skin_contact")
    details: dict[str, object] = {}
    if frame.flag(flags, 3):
        details["energy_expended_kj"] = frame.u16("energy expended")
    if frame.flag(flags, 4):
        intervals = []
        while frame.at < len(frame.data):
            intervals.append(round(frame.u16("RR-interval") / 1024, 4))
        details["rr_intervals_s"] = intervals
    value = checked("heart_rate", NAME, pulse=rate)
    return DecodedReading(value, None, None, tuple(notes), details)
