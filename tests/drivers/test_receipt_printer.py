"""The receipt printer on a real pty, against the simulated printer: a page printed and
decoded, Polish in PC852, paper near its end (printed, reported) and out (PaperOut, nothing
sent), a silent or unplugged printer (PrinterOffline), an oversized page refused before the
port opens, noise around the status answer, jobs never interleaved, and the options."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.serial import escpos
from healthhub.drivers.serial.printer_simulator import PrintedPage, PtyPrinter, SimulatedPrinter
from healthhub.drivers.serial.receipt_printer import (
    PageRefused,
    PageTooLarge,
    PaperOut,
    PrinterError,
    PrinterOffline,
    ReceiptPrinter,
    ReceiptPrinterOptions,
)

URL = "https://healthhub.example.nhs.uk/pages/healthy-heart?lang=en"
TITLE = "Healthy heart"
PARAGRAPHS = [
    "Your heart pumps blood around your body. Keeping active, eating well and not smoking "
    "all help to keep it healthy.",
    "Ask at reception if you would like a blood pressure check.",
]
FOOTER = "Public information - take this page home"


def printer(path: str, **options: Any) -> ReceiptPrinter:
    return ReceiptPrinter(ReceiptPrinterOptions(port=path, **options), name="kiosk printer")


def wait_for_pages(
    device: PtyPrinter, count: int = 1, timeout_s: float = 10.0
) -> list[PrintedPage]:
    """The simulator's pages once ``count`` are cut (the driver returns once the kernel has
    the bytes; the simulator's thread reads them a moment later)."""
    deadline = time.monotonic() + timeout_s
    while len(pages := device.pages()) < count:
        assert time.monotonic() < deadline, f"{len(pages)} of {count} pages printed"
        time.sleep(0.005)
    return pages


def test_a_page_is_printed_and_decoded_by_the_simulator() -> None:
    with PtyPrinter() as device:
        report = asyncio.run(
            printer(device.path).print_page(TITLE, PARAGRAPHS, qr=URL, footer=FOOTER)
        )
        [page] = wait_for_pages(device)
        assert device.received().startswith(escpos.STATUS_REQUEST)
        assert device.errors() == []
        sent = device.received()[len(escpos.STATUS_REQUEST) :]
    assert sent == escpos.encode_receipt(TITLE, PARAGRAPHS, qr=URL, footer=FOOTER)
    assert (report.paper.state, report.code_page, report.replaced) == ("ok", "cp437", 0)
    assert report.size == len(sent)
    assert page.text[0] == TITLE
    assert page.lines[0].bold
    assert (page.lines[0].width, page.lines[0].height) == (2, 2)
    assert all(line.columns <= 32 for line in page.lines)
    body = " ".join(line.text for line in page.lines if line.align == "left" and line.text)
    assert body == " ".join(PARAGRAPHS)
    assert [qr.data for qr in page.qr_codes] == [URL.encode()]
    assert page.qr_codes[0].level == "M"
    assert page.text[-2:] == ["Public information - take this", "page home"]  # footer at 32
    assert page.cut == escpos.Cut(partial=True, feed=0)


def test_polish_on_80_mm_paper() -> None:
    title, text = "Zdrowe serce", "Ruszaj się codziennie i ogranicz sól. Zażółć!"
    with PtyPrinter() as device:
        report = asyncio.run(
            printer(device.path, width_chars=48, baudrate=19200).print_page(title, [text])
        )
        [page] = wait_for_pages(device)
        commands = device.commands()
    assert (report.code_page, report.replaced) == ("cp852", 0)
    assert escpos.SelectCodePage("cp852") in commands
    assert page.text[:3] == [title, "", text]  # 48 columns: one line each
    assert page.qr_codes == ()


def test_paper_near_its_end_prints_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "healthhub.drivers.serial.receipt_printer")
    with PtyPrinter(paper="near_end") as device:
        unit = printer(device.path)
        report = asyncio.run(unit.print_page(TITLE, PARAGRAPHS, qr=URL))
        wait_for_pages(device)
    assert report.paper.near_end
    assert report.paper.state == "near_end"
    assert unit.last_status == report.paper
    assert unit.pages_printed == 1
    assert "change the roll soon" in caplog.text
    assert "Healthy" not in caplog.text  # no page text in the log


def test_paper_out_raises_and_prints_nothing() -> None:
    with PtyPrinter(paper="out") as device:
        unit = printer(device.path)
        with pytest.raises(PaperOut, match="load a new roll"):
            asyncio.run(unit.print_page(TITLE, PARAGRAPHS, qr=URL))
        time.sleep(0.05)  # room for a wrong page to arrive (none must)
        assert device.received() == escpos.STATUS_REQUEST
        assert device.pages() == []
        assert device.unprinted() == []
    assert unit.pages_printed == 0
    assert unit.last_status is not None
    assert unit.last_status.out


def test_a_silent_printer_is_offline() -> None:
    with PtyPrinter() as device:
        device.online = False
        unit = printer(device.path, status_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(PrinterOffline, match="no answer to the paper status") as caught:
            asyncio.run(unit.print_page(TITLE, PARAGRAPHS))
        assert time.monotonic() - started < 5
        assert device.received() == escpos.STATUS_REQUEST  # the page was never sent
    assert "9600 baud 8N1" in str(caught.value)
    assert isinstance(caught.value, PrinterError)


def test_an_unplugged_or_missing_printer_is_offline(tmp_path: Path) -> None:
    with pytest.raises(PrinterOffline, match="missing"):
        asyncio.run(printer(str(tmp_path / "ttyUSB3")).print_page(TITLE, PARAGRAPHS))
    device = PtyPrinter().start()
    path = device.path
    device.close()  # the cable pulled: the pty's slave goes away
    with pytest.raises(PrinterOffline):
        asyncio.run(printer(path).print_page(TITLE, PARAGRAPHS))


def test_an_oversized_page_is_refused_before_the_port_opens() -> None:
    paragraphs = [f"Paragraph {n}: " + "plenty of words to fill the page " * 20 for n in range(30)]
    with PtyPrinter() as device:
        unit = printer(device.path)
        with pytest.raises(PageTooLarge, match="over the limit of 16384"):
            asyncio.run(unit.print_page(TITLE, paragraphs, qr=URL))
        assert len(escpos.encode_receipt(TITLE, paragraphs, qr=URL)) > 16 * 1024
        small = printer(device.path, max_page_bytes=1024)
        with pytest.raises(PageTooLarge):
            asyncio.run(small.print_page(TITLE, PARAGRAPHS * 6))
        time.sleep(0.05)
        assert device.received() == b""  # not even a status request


def test_a_page_that_cannot_be_laid_out_is_refused() -> None:
    with PtyPrinter() as device:
        with pytest.raises(PageRefused, match="at most 512 bytes"):
            asyncio.run(printer(device.path).print_page(TITLE, [], qr=URL + "a" * 600))
        with pytest.raises(PageRefused, match="title"):
            asyncio.run(printer(device.path).print_page("", PARAGRAPHS))
        assert device.received() == b""


def test_noise_before_the_status_answer_is_skipped() -> None:
    with PtyPrinter(paper="near_end") as device:
        device.reply_prefix = b"\x13\x11\x00\xff"  # XOFF, XON, noise: none a paper status
        unit = printer(device.path)
        report = asyncio.run(unit.print_page(TITLE, PARAGRAPHS))
        wait_for_pages(device)
    assert report.paper.state == "near_end"
    assert unit.noise_bytes == 4


def test_stale_input_is_dropped_before_asking() -> None:
    """A late "paper out" left in the line from before the job must not pass for this
    job's status (pyserial flushes input on open; the driver drains it too)."""
    with PtyPrinter(paper="out") as device:
        unit = printer(device.path)
        with pytest.raises(PaperOut):
            asyncio.run(unit.print_page(TITLE, PARAGRAPHS))
        device.paper = "ok"
        device.send(bytes([escpos.status_byte(escpos.PaperStatus(near_end=True, out=True))]))
        report = asyncio.run(unit.print_page(TITLE, PARAGRAPHS))
        wait_for_pages(device)
    assert report.paper.state == "ok"


def test_jobs_never_interleave() -> None:
    async def both(unit: ReceiptPrinter) -> None:
        await asyncio.gather(
            unit.print_page("First page", PARAGRAPHS * 4, qr=URL + "1"),
            unit.print_page("Second page", PARAGRAPHS * 4, qr=URL + "2"),
        )

    with PtyPrinter() as device:
        unit = printer(device.path)
        asyncio.run(both(unit))
        first, second = wait_for_pages(device, 2)
        assert device.errors() == []
    assert unit.pages_printed == 2
    assert {first.text[0], second.text[0]} == {"First page", "Second page"}
    for page in (first, second):
        digit = "1" if page.text[0] == "First page" else "2"
        assert [qr.data for qr in page.qr_codes] == [(URL + digit).encode()]


def test_status_alone_is_a_health_check() -> None:
    with PtyPrinter(paper="near_end") as device:
        status = asyncio.run(printer(device.path).status())
        device.online = False
        with pytest.raises(PrinterOffline):
            asyncio.run(printer(device.path, status_timeout_s=0.2).status())
        assert device.pages() == []
    assert status.state == "near_end"


# -- the simulator and the options -----------------------------------------------------------


def test_the_simulator_reports_a_malformed_stream() -> None:
    unit = SimulatedPrinter()
    assert unit.receive(b"\x1b@Hi\n\x1bZ") == b""
    assert unit.errors
    assert unit.receive(escpos.STATUS_REQUEST) == b"\x12"  # a fresh decoder after the error
    unit.paper = "out"
    assert unit.receive(escpos.STATUS_REQUEST) == b"\x7e"
    unit.online = False
    assert unit.receive(escpos.STATUS_REQUEST) == b""


def test_options_from_a_spec() -> None:
    spec = PeripheralSpec(
        "printer", "receipt_printer", "serial.escpos", {"port": "/dev/ttyUSB0", "baudrate": 19200}
    )
    unit = ReceiptPrinter.from_spec(spec)
    assert unit.name == "printer"
    assert unit.settings.model_dump() == {
        "port": "/dev/ttyUSB0",
        "baudrate": 19200,
        "bytesize": 8,
        "parity": "none",
        "stopbits": 1,
        "width_chars": 32,
        "code_page": "auto",
        "cut": "partial",
        "status_timeout_s": 1.0,
        "max_page_bytes": 16384,
    }


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"width_chars": 80}, "width_chars"),
        ({"code_page": "utf-8"}, "code_page"),
        ({"max_page_bytes": 10**6}, "max_page_bytes"),
        ({"status_timeout_s": 0}, "status_timeout_s"),
        ({"paper": "A4"}, "paper: unknown option"),
    ],
)
def test_bad_options_are_named(bad: dict[str, Any], named: str) -> None:
    options = {"port": "/dev/ttyUSB0", **bad}
    with pytest.raises(DriverConfigError, match=named):
        ReceiptPrinter.from_spec(PeripheralSpec("p", "receipt_printer", "serial.escpos", options))


def test_a_forced_code_page_replaces_what_it_cannot_print() -> None:
    with PtyPrinter() as device:
        unit = printer(device.path, code_page="cp437")
        report = asyncio.run(unit.print_page("Łódź", ["Sól i cukier"]))
        [page] = wait_for_pages(device)
    assert (report.code_page, report.replaced) == ("cp437", 2)  # Ł and ź; ó is in PC437
    assert page.text[0] == "?ód?"
    assert "Sól i cukier" in page.text
