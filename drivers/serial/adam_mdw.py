"""Adam Equipment MDW-300L / MDW-250L digital physician scale: its RS-232 frames, decoded.

Source: Adam Equipment, *MDW-300L user manual*, p.n. 700660159 (Rev. A, April 2011;
Rev. C5, January 2012, which also covers the MDW-250L), section 8 "RS232 communications",
pages 12-14. Every byte below is from that section:

- 8.3 / 8.4, parameter S.F. = 1 (continuous output) or 2 (output when PRINT is pressed):
  ``<LF><reading, minus, decimal point, weight unit>GR<CR><ETX>`` for a gross weight,
  ``...NT<CR><ETX>`` for a net weight. The scale accepts no commands in these modes.
- 8.5, S.F. = 3 (command mode): answers within 300 ms; "one second should be adequate for
  use as a time-out". 8.5.1: the weight field is a polarity character (``-`` or a space),
  seven digits with leading zeros suppressed, a decimal point (placed as parameter P9
  sets, or none), two lower-case unit letters (``kg``, ``lb``). Over capacity: nine ``^``;
  under capacity: nine ``_`` (the text says ``-``, the example ``_``: both are accepted);
  zero-point error: nine ``-``. The manual's examples print fewer fill characters, so any
  run of one fill character is accepted.
- 8.5.3 commands (each ends in CR): ``W`` weight, answered
  ``<LF><p>w1..w6<dp>w7u1u2<CR><LF>H1H2H3<CR><ETX>``; ``S`` status, ``<LF>H1H2H3<CR><ETX>``;
  ``Z`` zero and ``T`` tare, answered with the status; ``U`` units,
  ``<LF>u1u2<CR><LF>H1H2H3<CR><ETX>``; ``X`` power off (no answer); anything else
  ``<LF>?<CR><ETX>``.
- Table 1, the status bytes (bit 7 is parity; its sense is not given, so it is not checked):

  ====  ======================  =====================  ==============================
  bit   H1                      H2                     H3
  ====  ======================  =====================  ==============================
  0     1 = not stable          1 = under capacity     bits 0-1: 01 normal, 10 hold,
  1     1 = at zero point       1 = over capacity      00 and 11 not defined
  2     always 0                always 0               1 = net weight
  3     1 = EEPROM error        always 0               always 0
  4, 5  always 1                always 1               always 1
  6     always 0                always 1               always 0
  ====  ======================  =====================  ==============================

  The fixed bits are this protocol's only integrity check: a status byte that breaks
  them makes the frame bad.

What counts as a body weight (the rules are ours, from what the protocol reports): a
stable, gross (a tare set on the scale would falsify a body weight), positive weight, in
normal work mode (in hold mode the display may still show an earlier patient), with no
capacity or EEPROM error, within the plausibility limits of ``protocol/measurements.py``.
Pounds are converted to kilograms (1 lb = 0.45359237 kg exactly, the international
yard and pound agreement of 1959). Serial settings are not given in the section we could
read (S.F. = 3 says only that they are fixed): the driver defaults to 9600 baud 8N1 and
the installer sets what the scale uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.errors import FrameError, NotAValue, TruncatedFrame
from healthhub.drivers.serial.framing import DelimitedFramer

NAME = "serial.adam_mdw"
SOURCE = "Adam Equipment MDW-300L/MDW-250L user manual p.n. 700660159, section 8 RS232"
KG_PER_LB = 0.45359237

LF, CR, ETX = b"\n", b"\r", b"\x03"
WEIGH = b"W\r"
STATUS = b"S\r"
ZERO = b"Z\r"
TARE = b"T\r"
UNITS = b"U\r"

#: Every answer opens with LF and closes with ETX (the longest, to ``W``, is about 20
#: bytes); 64 bounds a frame with room for the fill characters of over/under capacity.
FRAMER = DelimitedFramer(LF, ETX, max_frame=64)

_UNITS = ("kg", "lb")
_NUMBER = re.compile(r" *(-?) *(\d{1,7}(?:\.\d{0,7})?|\.\d{1,7})")
_MAX_FIELD = 16


class NotSettled(NotAValue):
    """Not a reading yet: the weight is moving or the platform is empty; ask again."""


@dataclass(frozen=True)
class Status:
    unstable: bool
    at_zero: bool
    eeprom_error: bool
    under_capacity: bool
    over_capacity: bool
    mode: Literal["normal", "hold"]
    net: bool

    @classmethod
    def parse(cls, raw: bytes) -> Status:
        if len(raw) != 3:
            raise TruncatedFrame(f"{NAME}: status must be 3 bytes")
        h1, h2, h3 = (byte & 0x7F for byte in raw)  # bit 7: parity
        if h1 & 0x74 != 0x30 or h2 & 0x7C != 0x70 or h3 & 0x78 != 0x30:
            raise FrameError(f"{NAME}: status bytes break their fixed bits (Table 1)")
        modes: dict[int, Literal["normal", "hold"]] = {0b01: "normal", 0b10: "hold"}
        mode = modes.get(h3 & 0b11)
        if mode is None:
            raise FrameError(f"{NAME}: status H3 gives an undefined work mode")
        return cls(
            unstable=bool(h1 & 0x01),
            at_zero=bool(h1 & 0x02),
            eeprom_error=bool(h1 & 0x08),
            under_capacity=bool(h2 & 0x01),
            over_capacity=bool(h2 & 0x02),
            mode=mode,
            net=bool(h3 & 0x04),
        )


@dataclass(frozen=True)
class Weight:
    """The weight field as sent: a value in ``unit``, or a capacity condition."""

    value: float | None
    unit: Literal["kg", "lb"]
    condition: Literal["value", "over_capacity", "under_capacity", "zero_point_error"]

    @classmethod
    def parse(cls, field: bytes) -> Weight:
        if not 3 <= len(field) <= _MAX_FIELD:
            raise FrameError(f"{NAME}: weight field has a wrong length")
        unit = _unit(field[-2:])
        try:
            text = field[:-2].decode("ascii")
        except UnicodeDecodeError:
            raise FrameError(f"{NAME}: weight field is not ASCII") from None
        fill = text.strip(" ")
        if fill and set(fill) == {"^"}:
            return cls(None, unit, "over_capacity")
        if len(fill) > 1 and set(fill) == {"_"}:
            return cls(None, unit, "under_capacity")
        if len(fill) > 1 and set(fill) == {"-"}:
            return cls(None, unit, "zero_point_error")
        match = _NUMBER.fullmatch(text)
        if match is None:
            raise FrameError(f"{NAME}: weight field is not a number")
        value = float(match.group(2))
        return cls(-value if match.group(1) else value, unit, "value")


@dataclass(frozen=True)
class MdwFrame:
    """One answer or output line of the scale."""

    kind: Literal["weight", "status", "units", "print", "unknown_command"]
    weight: Weight | None = None
    status: Status | None = None
    unit: Literal["kg", "lb"] | None = None
    gross: bool | None = None  # print frames: GR (True) or NT (False)


def _unit(raw: bytes) -> Literal["kg", "lb"]:
    if raw == b"kg":
        return "kg"
    if raw == b"lb":
        return "lb"
    raise FrameError(f"{NAME}: unit must be kg or lb")


def parse(frame: bytes) -> MdwFrame:
    """A frame as the framer delivers it (``<LF>...<ETX>``), checked field by field."""
    frame = bytes(frame)
    if len(frame) < 4 or frame[:1] != LF or frame[-1:] != ETX:
        raise TruncatedFrame(f"{NAME}: a frame runs from LF to ETX")
    body = frame[1:-1]
    if not body.endswith(CR):
        raise TruncatedFrame(f"{NAME}: CR missing before ETX")
    body = body[:-1]
    if body == b"?":
        return MdwFrame("unknown_command")
    if CR + LF in body:
        first, _, status = body.partition(CR + LF)
        parsed = Status.parse(status)
        if len(first) == 2:
            return MdwFrame("units", status=parsed, unit=_unit(first))
        return MdwFrame("weight", weight=Weight.parse(first), status=parsed)
    if body[-2:] in (b"GR", b"NT"):
        return MdwFrame("print", weight=Weight.parse(body[:-2]), gross=body[-2:] == b"GR")
    if len(body) == 3:
        return MdwFrame("status", status=Status.parse(body))
    raise FrameError(f"{NAME}: not a frame of section 8")


def reading(frame: MdwFrame) -> DecodedReading:
    """The body weight in ``frame``; :class:`NotSettled` to ask again, another
    :class:`NotAValue` (value-free reason) or :class:`ImpossibleValue` when it is none."""
    if frame.kind not in ("weight", "print") or frame.weight is None:
        raise NotAValue(f"{NAME}: this answer ({frame.kind}) carries no weight")
    weight, status = frame.weight, frame.status
    conditions = {
        "over_capacity": "over capacity",
        "under_capacity": "under capacity",
        "zero_point_error": "zero-point error: zero the scale with the platform empty",
    }
    if weight.condition in conditions:
        raise NotAValue(f"{NAME}: scale reports {conditions[weight.condition]}")
    if status is not None:
        if status.eeprom_error:
            raise NotAValue(f"{NAME}: scale reports an EEPROM error: have it serviced")
        if status.over_capacity or status.under_capacity:
            raise NotAValue(f"{NAME}: scale reports a capacity error")
        if status.mode == "hold":
            raise NotAValue(
                f"{NAME}: scale is in hold mode (the weight shown may be an earlier one)"
            )
    if (status is not None and status.net) or frame.gross is False:
        raise NotAValue(f"{NAME}: net weight (a tare is set): not a body weight")
    if status is not None and status.unstable:
        raise NotSettled(f"{NAME}: weight not stable yet")
    assert weight.value is not None
    if weight.value < 0:
        raise NotAValue(f"{NAME}: negative weight: zero the scale with the platform empty")
    if weight.value == 0 or (status is not None and status.at_zero):
        raise NotSettled(f"{NAME}: platform empty")
    kilograms = weight.value if weight.unit == "kg" else round(weight.value * KG_PER_LB, 2)
    value = checked("body_weight", NAME, weight=kilograms)
    output = "command" if frame.kind == "weight" else "print"
    return DecodedReading(value, details={"unit_sent": weight.unit, "output": output})


def decode(frame: bytes) -> DecodedReading:
    """Pure: a frame in, the body weight out, or a :class:`FrameError` subclass."""
    return reading(parse(frame))
