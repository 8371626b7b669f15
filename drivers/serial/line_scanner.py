"""A barcode/QR scanner that types lines: ``driver: barcode_scanner``, ``backend: serial.line``.

USB scanners in serial (CDC-ACM) mode and RS-232 scanners send each code followed by a
suffix, CR or CR LF by default. Each line becomes ``sink.signal(name, SCANNED, text)``.
A line must be UTF-8 text of printable characters, at most ``max_length`` characters
(default 512, a bound on any QR code a patient will show); other lines (binary junk, a
scanner in the wrong mode, line noise) are dropped and counted in ``dropped``. A scanned
code may identify a patient: it goes to the sink and nowhere else, never to a log.
The default line settings, 9600 baud 8N1, are the usual RS-232 scanner default; a CDC-ACM
port ignores them.
"""

from __future__ import annotations

import logging

from pydantic import Field

from healthhub.drivers.base import PeripheralSpec, ReadingSink, Signal
from healthhub.drivers.errors import FrameError
from healthhub.drivers.options import parse_options
from healthhub.drivers.registry import register
from healthhub.drivers.serial.framing import LineFramer
from healthhub.drivers.serial.peripheral import SerialPeripheral
from healthhub.drivers.serial.port import SerialPortOptions

log = logging.getLogger(__name__)

MAX_CODE = 512


class LineScannerOptions(SerialPortOptions):
    max_length: int = Field(MAX_CODE, ge=1, le=4096)


def code_text(line: bytes, max_length: int = MAX_CODE) -> str:
    """The code a line carries, or :class:`FrameError` (the message holds no code)."""
    try:
        text = bytes(line).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("scanned line is not UTF-8 text") from None
    if not text:
        raise FrameError("scanned line is empty")
    if len(text) > max_length:
        raise FrameError(f"scanned line is longer than {max_length} characters")
    if not text.isprintable():
        raise FrameError("scanned line holds control or unprintable characters")
    return text


class LineScanner(SerialPeripheral[LineScannerOptions]):
    def __init__(self, spec: PeripheralSpec) -> None:
        settings = parse_options(spec, LineScannerOptions)
        # A UTF-8 character takes up to 4 bytes: the byte bound covers max_length characters.
        super().__init__(spec, settings, LineFramer(max_frame=4 * settings.max_length))
        self.dropped = 0

    async def handle_frame(self, frame: bytes, sink: ReadingSink) -> None:
        if not frame:
            return  # the LF of a CR LF suffix that arrived in a later read
        try:
            text = code_text(frame, self.settings.max_length)
        except FrameError as exc:
            self.dropped += 1
            self.bad_frame(str(exc))
            return
        sink.signal(self.name, Signal.SCANNED, text)


@register("barcode_scanner", "serial.line")
def create(spec: PeripheralSpec) -> LineScanner:
    return LineScanner(spec)
