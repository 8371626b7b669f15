"""Weight Measurement, 0x2A9D (GATT Specification Supplement 3.252).

flags (uint8): bit 0 units (0 SI: weight in 0.005 kg, height in 0.001 m; 1 imperial: weight
in 0.01 lb, height in 0.1 in); bit 1 time stamp; bit 2 user id; bit 3 BMI and height. Then
weight (uint16; 0xFFFF: "measurement unsuccessful"), time stamp (7 bytes), user id (uint8),
BMI (uint16, 0.1 kg/m2), height (uint16).
"""

from __future__ import annotations

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.errors import NotAValue
from healthhub.drivers.gatt.fields import Frame

NAME = "ble.weight_scale"
KG_PER_LB = 0.45359237  # exact, by the international yard and pound agreement (1959)
CM_PER_IN = 2.54  # exact
UNSUCCESSFUL = 0xFFFF


def decode(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), NAME)
    flags = frame.u8("flags")
    imperial = frame.flag(flags, 0)
    raw_weight = frame.u16("weight")
    if raw_weight == UNSUCCESSFUL:
        raise NotAValue(f"{NAME}: the scale reports the measurement was unsuccessful")
    weight = raw_weight * 0.01 * KG_PER_LB if imperial else raw_weight * 0.005
    taken_at = frame.timestamp() if frame.flag(flags, 1) else None
    user = frame.u8("user id") if frame.flag(flags, 2) else None
    details: dict[str, float | str] = {"unit_sent": "lb" if imperial else "kg"}
    if frame.flag(flags, 3):
        details["bmi"] = round(frame.u16("BMI") * 0.1, 1)
        raw_height = frame.u16("height")
        height_cm = raw_height * 0.1 * CM_PER_IN if imperial else raw_height * 0.1
        details["height_cm"] = round(height_cm, 1)
    value = checked("body_weight", NAME, weight=round(weight, 2))
    return DecodedReading(value, taken_at, user, (), details)
