"""Temperature Measurement, 0x2A1C (GATT Specification Supplement 3.225).

flags (uint8): bit 0 units (0 Celsius, 1 Fahrenheit); bit 1 time stamp; bit 2 temperature
type. Then the temperature (FLOAT), time stamp (7 bytes), temperature type (uint8, GSS
3.224: 1 armpit, 2 body (general), 3 ear, 4 finger, 5 gastro-intestinal tract, 6 mouth,
7 rectum, 8 toe, 9 tympanum).
"""

from __future__ import annotations

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.gatt.fields import Frame

NAME = "ble.thermometer"
SITES = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


def decode(data: bytes) -> DecodedReading:
    frame = Frame(bytes(data), NAME)
    flags = frame.u8("flags")
    fahrenheit = frame.flag(flags, 0)
    temperature = frame.float32("temperature")
    if fahrenheit:
        temperature = (temperature - 32) * 5 / 9
    taken_at = frame.timestamp() if frame.flag(flags, 1) else None
    details: dict[str, str] = {"unit_sent": "Fahrenheit" if fahrenheit else "Celsius"}
    if frame.flag(flags, 2):
        kind = frame.u8("temperature type")
        details["site"] = SITES.get(kind, f"reserved({kind})")
    value = checked("body_temperature", NAME, temperature=round(temperature, 2))
    return DecodedReading(value, taken_at, None, (), details)
