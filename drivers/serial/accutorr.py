"""Datascope ACCUTORR 3 non-invasive blood pressure monitor: its PC interface, decoded.

Why this unit: the brief's first choice, the A&D TM-2657, describes its serial output in
"TM-2657 series External I/O unit" (1WMPD4003318), but no copy we could read shows the
data format past the contents page, and a protocol we cannot cite is one we would be
inventing. The ACCUTORR's PC interface is published in full in its service manual, an
edition whose interconnection note cites "IEC or BS safety standards". Whether practices
still use ACCUTORR units is for the practice to confirm; the driver is the template for a
kiosk unit whose protocol we can read in full.

Source: Datascope Corp., *ACCUTORR 3 Service Manual* (pages revised 08/24/90): p. 1-37
"Interfacing to Personal Computers"; p. 1-52 "PC Interface For The ACCUTORR"; pp. 1-53 and
1-54 "Command Responses" and the status bytes. What it says, and all that is parsed here:

- ASCII, 8 data bits, 1 start bit, 1 stop bit, no parity, no packets and no checksums; the
  baud rate is chosen in the unit's User Configuration menu (the driver defaults to 9600,
  the installer sets what the unit uses).
- At power-up the unit sends ``ACCUTORR PC Interface is ready`` and the prompt ``>``. A
  command is one character, sent when the prompt is present: ``L`` show alarm limits,
  ``P`` show patient information, and the prompt request, ASCII code 03 (the scanned page
  prints it as ``^C``), which "assures prompt available" and is answered with ``>``.
- The unit answers a command by echoing its character, a colon, then 3-digit numbers
  separated by commas, the last followed by CR LF; a field not in use is ``--``. The
  manual's example: ``P:--,85,120, 45, 80,000,010,000, 5``.
- ``P`` fields, in order: SaO2, pulse rate, systolic, mean, diastolic blood pressure,
  status byte 0, status byte 1, status byte 2, elapsed time (minutes) since the last NIBP
  measurement. The status bytes are 8 flags each (bit 0 lowest), sent as 3-digit numbers:

  ======  ==========================================================================
  byte    bits 0-7
  ======  ==========================================================================
  0       SaO2: no sensor, sensor off, interference, pulse search, pulse level weak,
          no pulse, check sensor site, pulse rate under 30 BPM
  1       SaO2: pulse rate over 250 BPM, uncalibrated, alarm overlapped, RAM test
          failure, ROM test failure, offset mismatch, filter mismatch, system test
          in progress
  2       bit 0 NIBP cuff overpressure, bit 1 NIBP motion artifact, bits 2-7 not used
  ======  ==========================================================================

The driver reads blood pressure only (the SaO2 flags concern the optional oximeter). Our
rules: an NIBP flag refuses the reading with the unit's own reason and no values; a
systolic or diastolic of ``--`` is no measurement; the values then pass the plausibility
limits (``checked``). There is no command to start a measurement: the patient or the
clinician presses START on the unit, and the driver polls ``P`` (see
:mod:`healthhub.drivers.serial.accutorr_monitor` for how a new measurement is told from
the one already shown).
"""

from __future__ import annotations

from dataclasses import dataclass

from healthhub.drivers.decoded import DecodedReading, checked
from healthhub.drivers.errors import FrameError, NotAValue, TruncatedFrame
from healthhub.drivers.serial.framing import LineFramer

NAME = "serial.accutorr"
SOURCE = "Datascope ACCUTORR 3 service manual, PC Interface, pp. 1-37 and 1-52 to 1-54"

PATIENT = b"P"
LIMITS = b"L"
PROMPT_REQUEST = b"\x03"
PROMPT = ">"
READY = "ACCUTORR PC Interface is ready"

#: Lines end in CR LF; the longest answer (``L``, ten fields) is under 60 characters.
FRAMER = LineFramer(max_frame=128)

_FIELDS = 9
_NIBP_FLAGS = ((0, "NIBP cuff overpressure"), (1, "NIBP motion artifact"))


class NoMeasurement(NotAValue):
    """The unit shows no blood pressure (``--``): nothing to read."""


@dataclass(frozen=True)
class PatientData:
    """The answer to ``P``, field by field; ``None`` where the unit sent ``--``."""

    spo2: int | None
    pulse: int | None
    systolic: int | None
    mean: int | None
    diastolic: int | None
    status0: int
    status1: int
    status2: int
    minutes: int | None  # since the last NIBP measurement

    @property
    def key(self) -> tuple[int | None, ...]:
        """What identifies the measurement shown (the elapsed time aside)."""
        return (self.systolic, self.diastolic, self.mean, self.pulse, self.status2)


def _field(text: str, what: str) -> int | None:
    value = text.strip(" ")
    if value == "--":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 3:
        raise FrameError(f"{NAME}: {what} is not a 3-digit number")
    return int(value)


def _status(text: str, what: str) -> int:
    value = _field(text, what)
    if value is None:
        return 0
    if value > 0xFF:
        raise FrameError(f"{NAME}: {what} is not a byte")
    return value


def is_patient_line(frame: bytes) -> bool:
    """Whether a line is an answer to ``P`` (after any prompts before it)."""
    return bytes(frame).lstrip(b"> ").startswith(b"P:")


def parse(frame: bytes) -> PatientData:
    """An answer to ``P`` as the line framer delivers it (CR LF removed)."""
    try:
        text = bytes(frame).decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(f"{NAME}: not ASCII") from None
    text = text.lstrip(PROMPT + " ")
    if not text.startswith("P:"):
        raise FrameError(f"{NAME}: not an answer to P")
    fields = text[2:].split(",")
    if len(fields) < _FIELDS:
        raise TruncatedFrame(f"{NAME}: answer to P has {len(fields)} of {_FIELDS} fields")
    if len(fields) > _FIELDS:
        raise FrameError(f"{NAME}: answer to P has more than {_FIELDS} fields")
    return PatientData(
        spo2=_field(fields[0], "SaO2"),
        pulse=_field(fields[1], "pulse rate"),
        systolic=_field(fields[2], "systolic"),
        mean=_field(fields[3], "mean"),
        diastolic=_field(fields[4], "diastolic"),
        status0=_status(fields[5], "status byte 0"),
        status1=_status(fields[6], "status byte 1"),
        status2=_status(fields[7], "status byte 2"),
        minutes=_field(fields[8], "elapsed time"),
    )


def reading(data: PatientData) -> DecodedReading:
    """The blood pressure in ``data``; :class:`NoMeasurement` when there is none,
    :class:`NotAValue` with the unit's reason (no values) when it flags one."""
    flagged = [reason for bit, reason in _NIBP_FLAGS if data.status2 & (1 << bit)]
    if flagged:
        raise NotAValue(f"{NAME}: unit reports {' and '.join(flagged)}")
    if data.systolic is None or data.diastolic is None:
        raise NoMeasurement(f"{NAME}: no blood pressure shown")
    value = checked(
        "blood_pressure",
        NAME,
        systolic=data.systolic,
        diastolic=data.diastolic,
        mean_arterial=data.mean,
        pulse=data.pulse,
    )
    return DecodedReading(value, details={"minutes_since_measurement": data.minutes})


def decode(frame: bytes) -> DecodedReading:
    """Pure: an answer to ``P`` in, the blood pressure out, or a :class:`FrameError`."""
    return reading(parse(frame))
