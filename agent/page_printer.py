"""Printing a health-information page for a patient on the unit's receipt printer.

The UI asks ``page.print {page, language}``; the agent, which owns the printer, reads the
page from the content it serves (never text from the UI, so nothing a patient typed can
reach paper) and prints the title, the paragraphs, a QR code of the page's web address and
a footer. Receipt printers print Latin scripts only (``escpos.printable``): a page in Urdu,
Panjabi or Bengali is printed in English, with the QR code that leads to the page itself.
A printer out of paper or offline is a clear error for the screen ("please ask at
reception") and a warning in the log, where staff see it; the count and the paper state are
in telemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthhub.drivers.serial import escpos
from healthhub.drivers.serial.receipt_printer import (
    PaperOut,
    PrinterError,
    PrinterOffline,
    ReceiptPrinter,
    ReceiptPrinterOptions,
)
from healthhub.protocol import local_api as api
from healthhub.protocol.content_fields import read_document
from healthhub.protocol.patient_content import InfoPage, parse_info_page
from healthhub.protocol.texts import DocumentInvalid, identifier

log = logging.getLogger(__name__)

FOOTER = "From your GP practice's health hub"


class PagePrinter:
    def __init__(self, options: ReceiptPrinterOptions, content_dir: Callable[[], Path]) -> None:
        self.printer = ReceiptPrinter(options, name="receipt_printer")
        self._content_dir = content_dir
        self.failures = 0
        self.last_error = ""

    async def print_page(self, args: dict[str, Any]) -> dict[str, Any]:
        page_id = api.text_arg(args, "page")
        language = args.get("language", "en")
        page = self._served_page(page_id)
        title, paragraphs = _texts(page, language if isinstance(language, str) else "en")
        try:
            report = await self.printer.print_page(title, paragraphs, qr=page.url, footer=FOOTER)
        except PaperOut as exc:
            return self._failed("printer_paper_out", exc)
        except PrinterOffline as exc:
            return self._failed("printer_offline", exc)
        except PrinterError as exc:
            return self._failed("printer_error", exc)
        if report.paper.near_end:
            log.warning("receipt printer: paper is nearly out; change the roll soon")
        return {"printed": True, "paper": report.paper.state}

    def _served_page(self, page_id: str) -> InfoPage:
        """The page from the served content: its one file, read and checked as at push."""
        name = f"info/{page_id}.yaml"
        try:
            identifier(page_id, "page")
            folder = self._content_dir()
            return parse_info_page(read_document(folder, name), name, folder)
        except DocumentInvalid:
            raise api.LocalApiError("no_form", f"page {page_id} is not served here") from None

    def _failed(self, code: str, exc: PrinterError) -> dict[str, Any]:
        self.failures += 1
        self.last_error = str(exc)
        log.warning("receipt printer: %s", exc)
        raise api.LocalApiError("no_device", f"{code}: {exc}")

    def to_json(self) -> dict[str, Any]:
        status = self.printer.last_status
        return {
            "pages_printed": self.printer.pages_printed,
            "failures": self.failures,
            "paper": None if status is None else status.state,
            "last_error": self.last_error,
        }


def _texts(page: InfoPage, language: str) -> tuple[str, list[str]]:
    """The page's title and paragraphs in ``language`` if the printer can print it, else
    in English."""
    for chosen in (language, "en"):
        title = page.title.get(chosen)
        paragraphs = [p.get(chosen) for p in page.body]
        if all(escpos.printable(text) for text in (title, *paragraphs)):
            return title, paragraphs
    return page.title.get("en"), [p.get("en") for p in page.body]
