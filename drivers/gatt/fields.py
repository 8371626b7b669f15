"""Reading a GATT frame field by field, every length checked before it is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from healthhub.drivers.errors import NotAValue, TruncatedFrame

# IEEE 11073-20601 special values (GSS 2.3, "Medical Float"): the whole raw value.
_SFLOAT_SPECIAL = {
    0x07FF: "NaN",
    0x0800: "NRes",
    0x07FE: "+INFINITY",
    0x0802: "-INFINITY",
    0x0801: "reserved",
}
_FLOAT_SPECIAL = {
    0x007FFFFF: "NaN",
    0x00800000: "NRes",
    0x007FFFFE: "+INFINITY",
    0x00800002: "-INFINITY",
    0x00800001: "reserved",
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _medical(
    raw: int, mantissa_bits: int, exponent_bits: int, special: dict[int, str], what: str
) -> float:
    """IEEE 11073 medical float: signed exponent (base 10) above a signed mantissa."""
    name = special.get(raw)
    if name is not None:
        raise NotAValue(f"{what} is {name}")
    mantissa = _signed(raw & ((1 << mantissa_bits) - 1), mantissa_bits)
    exponent = _signed(raw >> mantissa_bits, exponent_bits)
    return _scaled(mantissa, exponent)


def sfloat(raw: int, what: str = "value") -> float:
    """16-bit SFLOAT: 4-bit signed exponent, 12-bit signed mantissa."""
    return _medical(raw, 12, 4, _SFLOAT_SPECIAL, what)


def float32(raw: int, what: str = "value") -> float:
    """32-bit FLOAT: 8-bit signed exponent, 24-bit signed mantissa."""
    return _medical(raw, 24, 8, _FLOAT_SPECIAL, what)


def _scaled(mantissa: int, exponent: int) -> float:
    # Decimal scaling without binary error where it matters: 1234 e-1 -> 123.4 exactly.
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return float(round(mantissa / 10**-exponent, -exponent))


@dataclass
class Frame:
    """A cursor over one frame; each read checks the length first."""

    data: bytes
    name: str
    at: int = 0

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
            raise TruncatedFrame(
                f"{self.name}: frame of {len(self.data)} bytes ends before {what} "
                f"(bytes {self.at}-{self.at + n - 1})"
            )
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u24(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "little")

    def sfloat(self, what: str) -> float:
        return sfloat(self.u16(what), f"{self.name} {what}")

    def float32(self, what: str) -> float:
        return float32(int.from_bytes(self.take(4, what), "little"), f"{self.name} {what}")

    def timestamp(self) -> datetime | None:
        """GSS Date Time (7 bytes). Year 0, month 0 or day 0 mean "not known": None.

        The device's clock has no time zone; it is read as UTC, as most devices are set
        by the phone or hub that bonds with them (the agent stamps its own time too).
        """
        year = self.u16("timestamp year")
        month, day, hour, minute, second = self.take(5, "timestamp")
        if year == 0 or month == 0 or day == 0:
            return None
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            raise NotAValue(f"{self.name}: timestamp {year}-{month}-{day} is not a date") from None

    def flag(self, flags: int, bit: int) -> bool:
        return bool(flags & (1 << bit))
