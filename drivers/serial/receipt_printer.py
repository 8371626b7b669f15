"""A receipt printer on a serial port (ESC/POS): prints one public health-information page.

Nothing printed ever contains patient data: callers print public information pages only
(:mod:`~healthhub.drivers.serial.escpos` says why), and this module logs no page text.

Why not a :class:`~healthhub.drivers.base.Peripheral`: a peripheral is a device the agent
supervises for as long as it runs, serving it through ``run(sink)`` and handing over
readings and signals to a :class:`~healthhub.drivers.base.ReadingSink`. A printer measures
nothing and sends nothing unasked; it is used a few times an hour, when a patient asks for a
page, and the caller needs the outcome of that one job (printed, out of paper, offline).
So :class:`ReceiptPrinter` is a small class of its own with the serial peripherals'
conventions: the constructor only parses options (:class:`ReceiptPrinterOptions`, a
:class:`~healthhub.drivers.serial.port.SerialPortOptions`) and never touches hardware;
the port is opened through :class:`~healthhub.drivers.serial.port.SerialPort` for each job
and closed after it, so a printer unplugged and plugged in again between jobs just works;
errors are typed, and their messages say what to do.

One job, :meth:`ReceiptPrinter.print_page`, in order; nothing at all is sent until the
status says the printer can print:

1. the page is encoded (pure); a page over ``max_page_bytes`` of ESC/POS (16 KiB by
   default, about ten times a usual page) or one that cannot be laid out is refused
   (:class:`PageTooLarge`, :class:`PageRefused`) before the port is opened;
2. the port is opened (8N1 at ``baudrate``, 9600 by default; 19200 and 38400 are common),
   stale input dropped, and DLE EOT 4 sent; bytes that are not a roll paper status
   (XON/XOFF, noise) are skipped. No status within ``status_timeout_s``:
   :class:`PrinterOffline`. Paper out: :class:`PaperOut`. Paper near its end: the page
   is printed and the report says so (change the roll soon);
3. the page is written in chunks of :data:`WRITE_CHUNK` bytes (each chunk bounded by the
   port's write time-out); a port lost now raises :class:`PrinterError` (the page may be
   incomplete).

Jobs on one printer run one after another (a lock), never interleaved. Paper running out
in the middle of a page is not seen: status is real-time, but the printer prints behind
what it has received. The port module sets no flow control: the printer must accept a page
into its receive buffer (Epson: 4 KB with DTR/DSR; clones more) or be set to a baud rate
it prints faster than.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverError, TransientDriverError
from healthhub.drivers.options import parse_options
from healthhub.drivers.serial import escpos
from healthhub.drivers.serial.escpos import EscPosError, PaperStatus
from healthhub.drivers.serial.port import SerialPort, SerialPortOptions

log = logging.getLogger(__name__)

#: The largest page, in bytes of ESC/POS, unless the options say otherwise.
MAX_PAGE_BYTES = 16 * 1024
#: Bytes a write: a few hundred milliseconds of line time even at 9600 baud, well inside
#: the port's write time-out.
WRITE_CHUNK = 256


class PrinterError(DriverError):
    """The page was not printed, or not completely; the message says why and what to do.
    Raised as such when the printer is lost while the page is being sent."""


class PrinterOffline(PrinterError):
    """No answer to the status request in time, or the port is missing: nothing was
    printed. Worth trying again later."""


class PaperOut(PrinterError):
    """The roll paper end sensor sees no paper: nothing was printed. Load a new roll."""


class PageRefused(PrinterError):
    """This page cannot be printed as given (no title, a QR payload that is not a short
    URL): nothing was sent. Trying again will not help."""


class PageTooLarge(PageRefused):
    """The page's ESC/POS is over ``max_page_bytes``: nothing was sent."""


class ReceiptPrinterOptions(SerialPortOptions):
    """Where the printer is and how its page is laid out (8N1 at ``baudrate``)."""

    width_chars: int = Field(32, ge=escpos.MIN_WIDTH, le=escpos.MAX_WIDTH)  # 32: 58 mm
    code_page: Literal["auto", "cp437", "cp858", "cp852"] = "auto"
    cut: Literal["partial", "full"] = "partial"
    status_timeout_s: float = Field(1.0, gt=0.0, le=10.0)
    max_page_bytes: int = Field(MAX_PAGE_BYTES, ge=1024, le=64 * 1024)


@dataclass(frozen=True)
class PrintReport:
    """A page printed: the paper before it, the bytes sent, the code table, and how many
    characters printed as ``?`` (none when the caller checked ``escpos.printable``)."""

    paper: PaperStatus
    size: int
    code_page: str
    replaced: int


class ReceiptPrinter:
    """An ESC/POS receipt printer on a serial port; ``await print_page(...)`` per page."""

    def __init__(self, settings: ReceiptPrinterOptions, name: str = "receipt_printer") -> None:
        self.settings = settings
        self.name = name
        self.pages_printed = 0
        self.noise_bytes = 0  # bytes skipped while waiting for a status (XON/XOFF, noise)
        self.last_status: PaperStatus | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_spec(cls, spec: PeripheralSpec) -> ReceiptPrinter:
        """From a device.yaml-style entry; :class:`DriverConfigError` names a bad option."""
        return cls(parse_options(spec, ReceiptPrinterOptions), spec.name)

    def render(
        self,
        title: str,
        paragraphs: Sequence[str],
        *,
        qr: str | None = None,
        footer: str | None = None,
    ) -> escpos.EncodedReceipt:
        """The page as this printer would get it, checked against ``max_page_bytes``; no I/O."""
        settings = self.settings
        encoding = None if settings.code_page == "auto" else settings.code_page
        receipt = escpos.Receipt(title, tuple(paragraphs), qr, footer)
        try:
            page = escpos.render(
                receipt, width_chars=settings.width_chars, encoding=encoding, cut=settings.cut
            )
        except ValueError as exc:
            raise PageRefused(f"{self.name}: page not printed: {exc}") from None
        if len(page.data) > settings.max_page_bytes:
            raise PageTooLarge(
                f"{self.name}: page not printed: {len(page.data)} bytes of ESC/POS is over "
                f"the limit of {settings.max_page_bytes} (shorten the page)"
            )
        return page

    async def print_page(
        self,
        title: str,
        paragraphs: Sequence[str],
        *,
        qr: str | None = None,
        footer: str | None = None,
    ) -> PrintReport:
        """Print one public information page (module docstring: the steps and errors)."""
        page = self.render(title, paragraphs, qr=qr, footer=footer)
        async with self._lock, self._open() as port:
            paper = await self._paper(port)
            if paper.out:
                raise PaperOut(f"{self.name}: out of paper: load a new roll (nothing printed)")
            await self._send(port, page.data)
        self.pages_printed += 1
        if paper.near_end:
            log.warning("printer %s: paper near its end: change the roll soon", self.name)
        log.info("printer %s: page printed (%d bytes)", self.name, len(page.data))
        return PrintReport(paper, len(page.data), page.code_page.codec, page.replaced)

    async def status(self) -> PaperStatus:
        """The roll paper status now (a health check): :class:`PrinterOffline` if none."""
        async with self._lock, self._open() as port:
            return await self._paper(port)

    def _open(self) -> SerialPort:
        try:
            return SerialPort.open(self.settings)
        except TransientDriverError as exc:  # missing, busy: unplugged or switched off
            raise PrinterOffline(f"{self.name}: {exc} (nothing printed)") from exc
        except DriverError as exc:  # permission (names the dialout fix), bad port options
            raise PrinterError(f"{self.name}: {exc} (nothing printed)") from exc

    async def _paper(self, port: SerialPort) -> PaperStatus:
        """Ask DLE EOT 4 and wait for the first byte that is a roll paper status."""
        try:
            self.noise_bytes += port.drain()
            await port.write(escpos.STATUS_REQUEST)
            async with asyncio.timeout(self.settings.status_timeout_s):
                while True:
                    for byte in await port.read():
                        try:
                            self.last_status = escpos.parse_status(byte)
                        except EscPosError:
                            self.noise_bytes += 1
                            continue
                        return self.last_status
        except TimeoutError:
            raise self._offline() from None
        except TransientDriverError as exc:  # the port went away before the page was sent
            raise self._offline() from exc

    def _offline(self) -> PrinterOffline:
        return PrinterOffline(
            f"{self.name}: no answer to the paper status request within "
            f"{self.settings.status_timeout_s:g} s: is the printer on, its cable plugged in, "
            f"and its serial port set to {self.settings.baudrate} baud 8N1? (nothing printed)"
        )

    async def _send(self, port: SerialPort, data: bytes) -> None:
        try:
            for start in range(0, len(data), WRITE_CHUNK):
                await port.write(data[start : start + WRITE_CHUNK])
        except TransientDriverError as exc:
            raise PrinterError(
                f"{self.name}: printer lost while printing ({exc}): the page may be "
                "incomplete; check the printer and print again"
            ) from exc
