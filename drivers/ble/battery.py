"""Battery Level, 0x2A19 (Battery Service 1.0; GSS "Battery Level"): uint8, percent 0-100."""

from __future__ import annotations

from healthhub.drivers.errors import NotAValue, TruncatedFrame

NAME = "ble.battery_level"


def battery_percent(data: bytes | bytearray) -> int:
    """The level in percent; FrameError for anything but one byte of 0-100."""
    data = bytes(data)
    if len(data) != 1:
        raise TruncatedFrame(f"{NAME}: a battery level is 1 byte, not {len(data)}")
    if data[0] > 100:
        raise NotAValue(f"{NAME}: 0x{data[0]:02x} is a reserved value (above 100 %)")
    return data[0]
