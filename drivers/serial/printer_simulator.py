"""A simulated ESC/POS receipt printer, on the far end of a real pseudo-terminal.

:class:`ReceiptPrinter <healthhub.drivers.serial.receipt_printer.ReceiptPrinter>` opens
``printer.path`` (the pty's slave, ``/dev/pts/N``) exactly as it opens ``/dev/ttyUSB0``:

- :class:`SimulatedPrinter` is what a printer does with the bytes it receives, without a
  port: it decodes them (:class:`~healthhub.drivers.serial.escpos.Decoder`, so a malformed
  stream is caught and kept in ``errors``), answers DLE EOT 4 with its ``paper`` state
  (``ok``, ``near_end``, ``out``; the byte of Epson's table), and keeps the commands it
  prints. With the paper out it prints nothing (commands go to ``unprinted``). With
  ``online`` False it is switched off: it hears nothing and answers nothing. Other status
  requests (DLE EOT 1-3) are not simulated and get no answer.
- :func:`printed_pages` is what those commands put on paper: lines of text with their
  justification, emphasis and size, QR symbols with their settings, one page a cut.
- :class:`PtyPrinter` serves a :class:`SimulatedPrinter` on the master side of a pty from a
  thread (``with PtyPrinter(paper="near_end") as printer: ...``); ``reply_prefix`` is
  sent before every answer and ``send()`` sends bytes unasked (line noise, XON/XOFF);
  ``close()`` pulls the cable.

Standalone, for a demo kiosk without a printer (prints the pty path, then each page's text
as it is cut, until SIGTERM or SIGINT):

    python -m healthhub.drivers.serial.printer_simulator --paper near_end
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from healthhub.drivers.serial import escpos
from healthhub.drivers.serial.escpos import Command, EscPosError

Paper = Literal["ok", "near_end", "out"]
_PAPER: dict[Paper, escpos.PaperStatus] = {
    "ok": escpos.PaperStatus(near_end=False, out=False),
    "near_end": escpos.PaperStatus(near_end=True, out=False),
    "out": escpos.PaperStatus(near_end=True, out=True),  # an empty roll is past its near end
}


# -- what lands on paper ---------------------------------------------------------------------


@dataclass(frozen=True)
class PrintedLine:
    text: str
    align: escpos.Align
    bold: bool
    width: int  # character width, times normal
    height: int

    @property
    def columns(self) -> int:
        """Normal-width columns the line takes."""
        return len(self.text) * self.width


@dataclass(frozen=True)
class PrintedQr:
    data: bytes
    model: int
    module: int  # dots
    level: escpos.QrLevel
    align: escpos.Align


@dataclass(frozen=True)
class PrintedPage:
    lines: tuple[PrintedLine, ...]
    qr_codes: tuple[PrintedQr, ...]
    cut: escpos.Cut

    @property
    def text(self) -> list[str]:
        return [line.text for line in self.lines]


@dataclass
class _Modes:
    """The print modes as a printer keeps them; ESC @ brings back these (power-on) values
    (QR: model 2, module 3 dots, level L; TM-T81 Specification, <Function 165-169>)."""

    align: escpos.Align = "left"
    bold: bool = False
    width: int = 1
    height: int = 1
    qr_model: int = 2
    qr_module: int = 3
    qr_level: escpos.QrLevel = "L"
    qr_data: bytes | None = None


@dataclass
class _Sheet:
    lines: list[PrintedLine] = field(default_factory=list)
    qr_codes: list[PrintedQr] = field(default_factory=list)
    line: list[str] = field(default_factory=list)
    style: tuple[escpos.Align, bool, int, int] | None = None  # modes at the line's first text


def _set_mode(modes: _Modes, command: Command) -> bool:
    """Apply a mode command; False if ``command`` is not one."""
    match command:
        case escpos.Initialize():
            vars(modes).update(vars(_Modes()))
        case escpos.Justify(align=align):
            modes.align = align
        case escpos.Emphasis(on=on):
            modes.bold = on
        case escpos.CharacterSize(width=width, height=height):
            modes.width, modes.height = width, height
        case escpos.QrModel(model=model):
            modes.qr_model = model
        case escpos.QrModuleSize(dots=dots):
            modes.qr_module = dots
        case escpos.QrErrorCorrection(level=level):
            modes.qr_level = level
        case escpos.QrStore(data=data):
            modes.qr_data = data
        case _:
            return False
    return True


def printed_pages(commands: Iterable[Command]) -> list[PrintedPage]:
    """What ``commands`` print, one page a cut (text after the last cut is still in the
    printer). A line takes the modes in force at its first character; a QR print with
    nothing stored prints nothing, as on a printer."""
    modes, sheet, pages = _Modes(), _Sheet(), []
    for command in commands:
        if _set_mode(modes, command):
            continue
        if isinstance(command, escpos.Text):
            sheet.style = sheet.style or (modes.align, modes.bold, modes.width, modes.height)
            sheet.line.append(command.text)
        elif isinstance(command, escpos.LineFeed):
            style = sheet.style or (modes.align, modes.bold, modes.width, modes.height)
            sheet.lines.append(PrintedLine("".join(sheet.line), *style))
            sheet.line, sheet.style = [], None
        elif isinstance(command, escpos.QrPrint) and modes.qr_data is not None:
            qr = PrintedQr(
                modes.qr_data, modes.qr_model, modes.qr_module, modes.qr_level, modes.align
            )
            sheet.qr_codes.append(qr)
        elif isinstance(command, escpos.Cut):
            pages.append(PrintedPage(tuple(sheet.lines), tuple(sheet.qr_codes), command))
            sheet = _Sheet()
    return pages


# -- the printer -----------------------------------------------------------------------------


class SimulatedPrinter:
    """A printer's behaviour: ``receive(bytes)`` returns what it answers."""

    def __init__(self, paper: Paper = "ok") -> None:
        self.paper: Paper = paper
        self.online = True
        self.commands: list[Command] = []  # printed
        self.unprinted: list[Command] = []  # received with the paper out
        self.errors: list[str] = []  # malformed streams (each resets the decoder)
        self.status_requests = 0
        self._decoder = escpos.Decoder()

    def receive(self, data: bytes) -> bytes:
        if not self.online:
            return b""
        try:
            commands = self._decoder.feed(data)
        except EscPosError as exc:
            self.errors.append(str(exc))
            self._decoder = escpos.Decoder()
            return b""
        reply = bytearray()
        for command in commands:
            if isinstance(command, escpos.StatusRequest):
                self.status_requests += 1
                if command.n == 4:
                    reply.append(escpos.status_byte(_PAPER[self.paper]))
            elif self.paper == "out":
                self.unprinted.append(command)
            else:
                self.commands.append(command)
        return bytes(reply)

    @property
    def pages(self) -> list[PrintedPage]:
        return printed_pages(self.commands)


class PtyPrinter:
    """A :class:`SimulatedPrinter` on the master side of a pty; the driver opens ``path``.
    Read and set its state through this object (it holds the lock the pty thread takes)."""

    def __init__(self, paper: Paper = "ok") -> None:
        import tty  # POSIX only: lazily, so the package imports anywhere

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing, before any driver opens it
        self.path = os.ttyname(self._slave)
        self.reply_prefix = b""
        self.on_page: Callable[[PrintedPage], None] | None = None
        self._printer = SimulatedPrinter(paper)
        self._received = bytearray()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._open = True

    # state
    @property
    def paper(self) -> Paper:
        return self._printer.paper

    @paper.setter
    def paper(self, value: Paper) -> None:
        with self._lock:
            self._printer.paper = value

    @property
    def online(self) -> bool:
        return self._printer.online

    @online.setter
    def online(self, value: bool) -> None:
        with self._lock:
            self._printer.online = value

    def send(self, data: bytes) -> None:
        """Bytes from the printer unasked (a late answer, XON/XOFF, line noise)."""
        os.write(self._master, data)

    def received(self) -> bytes:
        """Every byte the driver has written, also while offline."""
        with self._lock:
            return bytes(self._received)

    def pages(self) -> list[PrintedPage]:
        with self._lock:
            return self._printer.pages

    def commands(self) -> list[Command]:
        with self._lock:
            return list(self._printer.commands)

    def unprinted(self) -> list[Command]:
        with self._lock:
            return list(self._printer.unprinted)

    def errors(self) -> list[str]:
        with self._lock:
            return list(self._printer.errors)

    # life
    def start(self) -> PtyPrinter:
        self._thread = threading.Thread(target=self._serve, name=f"printer {self.path}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def __enter__(self) -> PtyPrinter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Pull the cable: stop serving and close the pty (the slave path goes away)."""
        if self._thread is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
            self._thread.join(5)
            self._thread = None
        if self._open:
            self._open = False
            for fd in (self._master, self._slave, self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                done = len(self._printer.pages) if self.on_page else 0
                self._received += data
                reply = self._printer.receive(data)
                new_pages = self._printer.pages[done:] if self.on_page else []
            if reply:
                os.write(self._master, self.reply_prefix + reply)
            for page in new_pages:
                if self.on_page is not None:
                    self.on_page(page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a simulated receipt printer on a pty.")
    parser.add_argument("--paper", choices=("ok", "near_end", "out"), default="ok")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def show(page: PrintedPage) -> None:
        print("\n".join([*page.text, *(f"[QR {qr.data.decode()}]" for qr in page.qr_codes)]))
        print("-" * 8 + " cut", flush=True)

    with PtyPrinter(paper=args.paper) as printer:
        printer.on_page = show
        print(printer.path, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
