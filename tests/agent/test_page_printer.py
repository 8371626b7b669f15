"""Printing an information page on the unit's receipt printer, on a real pseudo-terminal.

The agent's :class:`PagePrinter` reads the page from the served starter content (never text
from the UI) and the simulated ESC/POS printer decodes what arrives.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from healthhub.agent.page_printer import FOOTER, PagePrinter
from healthhub.drivers.serial.printer_simulator import PrintedPage, PtyPrinter
from healthhub.drivers.serial.receipt_printer import ReceiptPrinterOptions
from healthhub.protocol import local_api as api
from healthhub.protocol.patient_content import load_patient_content

STARTER = Path(__file__).resolve().parents[2] / "fleet" / "starter_content"
PAGE = "high-blood-pressure"


def pages(device: PtyPrinter, count: int = 1) -> list[PrintedPage]:
    deadline = time.monotonic() + 10
    while len(found := device.pages()) < count:
        assert time.monotonic() < deadline, "the page was not printed"
        time.sleep(0.01)
    return found


def print_page(device: PtyPrinter, **args: str) -> dict[str, object]:
    printer = PagePrinter(ReceiptPrinterOptions(port=device.path, width_chars=48), lambda: STARTER)
    return asyncio.run(printer.print_page(args))


def test_a_page_prints_in_polish_with_its_qr_code() -> None:
    page = load_patient_content(STARTER).page(PAGE)
    assert page is not None
    assert page.title.has("pl")
    with PtyPrinter() as device:
        assert print_page(device, page=PAGE, language="pl") == {"printed": True, "paper": "ok"}
        (printed,) = pages(device)
    assert printed.text[0] == page.title.get("pl")
    assert [qr.data.decode() for qr in printed.qr_codes] == [page.url]
    assert " ".join(printed.text).replace(" ", "").find(FOOTER.replace(" ", "")) >= 0


def test_a_script_the_printer_cannot_print_falls_back_to_english() -> None:
    page = load_patient_content(STARTER).page(PAGE)
    assert page is not None
    with PtyPrinter() as device:
        print_page(device, page=PAGE, language="ur")
        (printed,) = pages(device)
    assert printed.text[0] == page.title.get("en")


def test_paper_out_is_a_clear_error_and_nothing_is_printed() -> None:
    with PtyPrinter(paper="out") as device:
        with pytest.raises(api.LocalApiError) as refused:
            print_page(device, page=PAGE, language="en")
        assert device.pages() == []
    assert refused.value.code == "no_device"
    assert "paper" in refused.value.message


def test_only_a_served_page_can_be_printed() -> None:
    with PtyPrinter() as device:
        with pytest.raises(api.LocalApiError) as refused:
            print_page(device, page="not-a-page", language="en")
        assert device.received() == b""
    assert refused.value.code == "no_form"
