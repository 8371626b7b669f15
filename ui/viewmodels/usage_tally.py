"""The tally of one visit for the ``usage`` stream: what was used, never who used it.

Kept in memory with the rest of the visit and handed to the agent with ``session.end``
(:mod:`healthhub.protocol.usage` says what it may hold). Ids only (screens, tiles, forms,
pages, categories) and counts: no answers, no text typed, nothing about the person.
"""

from __future__ import annotations

from typing import Any

from healthhub.protocol.usage import MAX_ITEMS


class UsageTally:
    def __init__(self) -> None:
        self.screens: list[str] = []
        self.tiles: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.pages: list[str] = []
        self.categories: list[str] = []
        self.searches = 0
        self.support_viewed = False
        self.support_requested = False
        self.read_aloud = 0
        self.language_changes = 0
        self.printed = 0
        self.qr_shown = 0

    def screen(self, name: str) -> None:
        """A screen shown (repeats of the one before are not counted)."""
        if (not self.screens or self.screens[-1] != name) and len(self.screens) < MAX_ITEMS:
            self.screens.append(name)

    def tile(self, name: str) -> None:
        _add(self.tiles, name)

    def page(self, page_id: str) -> None:
        _add(self.pages, page_id)

    def category(self, category: str) -> None:
        _add(self.categories, category)

    def form(self, form_id: str, outcome: str, page: str = "") -> None:
        """A form started, or how it ended; the latest outcome of a form replaces the last."""
        for entry in reversed(self.forms):
            if entry["form"] == form_id and entry["outcome"] == "started":
                entry["outcome"], entry["page"] = outcome, page
                return
        if len(self.forms) < MAX_ITEMS:
            self.forms.append({"form": form_id, "outcome": outcome, "page": page})

    def abandon_open_forms(self, page_of: dict[str, str]) -> None:
        """Forms still open when the visit ends were abandoned (on the page they were at)."""
        for entry in self.forms:
            if entry["outcome"] == "started":
                entry["outcome"] = "abandoned"
                entry["page"] = page_of.get(entry["form"], "")

    def to_json(self, *, text_size: int, high_contrast: bool) -> dict[str, Any]:
        tally: dict[str, Any] = {
            "screens": self.screens,
            "tiles": self.tiles,
            "forms": self.forms,
            "pages": self.pages,
            "services": {"categories": self.categories, "searches": self.searches},
            "support": {"viewed": self.support_viewed, "requested": self.support_requested},
            "accessibility": {
                "text_size": text_size,
                "high_contrast": high_contrast,
                "read_aloud": self.read_aloud,
                "language_changes": self.language_changes,
            },
            "printed": self.printed,
            "qr_shown": self.qr_shown,
        }
        if self.screens:
            tally["ended_on"] = self.screens[-1]
        return tally


def _add(items: list[str], value: str) -> None:
    if value not in items and len(items) < MAX_ITEMS:
        items.append(value)
