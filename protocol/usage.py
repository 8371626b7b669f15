"""What the ``usage`` stream says about a visit: what was used, never who used it.

The patient UI keeps a tally of the visit in memory and hands it to the agent when the
session ends; the agent adds it to the session's ``usage`` message (clear, not sealed: it
holds nothing about the person). It is what the practice's utilisation and equity reports
are made of (issue 8)::

    {"screens": ["identify", "home", "forms", "form"], "tiles": ["questionnaires"],
     "forms": [{"form": "phq-9", "outcome": "completed", "page": ""}],
     "pages": ["high-blood-pressure"], "services": {"categories": ["carers"], "searches": 1},
     "support": {"viewed": true, "requested": false},
     "accessibility": {"text_size": 2, "high_contrast": false, "read_aloud": 1,
                       "language_changes": 1},
     "printed": 0, "qr_shown": 1, "ended_on": "result"}

Only ids the practice itself pushed (forms, pages, categories, screens and tiles of the UI)
and counts: no free text, no answers, no times of day beyond the envelope's own. Every list
and count is bounded, so a defect cannot grow a message without limit.
"""

from __future__ import annotations

import re
from typing import Any, Final

from healthhub.protocol.errors import MalformedMessage

FORM_OUTCOMES: Final = frozenset({"started", "completed", "abandoned", "stopped"})
TALLY_FIELDS: Final = frozenset(
    {"screens", "tiles", "forms", "pages", "services", "support", "accessibility",
     "printed", "qr_shown", "ended_on"}
)  # fmt: skip
MAX_ITEMS: Final = 64
MAX_COUNT: Final = 10_000

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


def _ids(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise MalformedMessage(f"usage {what} must be a list of at most {MAX_ITEMS} ids")
    if not all(isinstance(item, str) and _ID.match(item) for item in value):
        raise MalformedMessage(f"usage {what} must hold ids")
    return list(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise MalformedMessage(f"usage {what} must be a count from 0 to {MAX_COUNT}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedMessage(f"usage {what} must be true or false")
    return value


def _object(value: Any, what: str, fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or not set(value) <= fields:
        raise MalformedMessage(f"usage {what} must be an object of {', '.join(sorted(fields))}")
    return value


def _form(value: Any) -> dict[str, str]:
    entry = _object(value, "forms[]", frozenset({"form", "outcome", "page"}))
    form, outcome, page = entry.get("form"), entry.get("outcome"), entry.get("page", "")
    if not isinstance(form, str) or not _ID.match(form) or outcome not in FORM_OUTCOMES:
        raise MalformedMessage("usage forms[] needs a form id and an outcome")
    if not isinstance(page, str) or (page and not _ID.match(page)):
        raise MalformedMessage("usage forms[] page must be a page id")
    return {"form": form, "outcome": str(outcome), "page": page}


def check_usage(value: Any) -> dict[str, Any]:
    """The UI's tally of a visit, checked and copied; :class:`MalformedMessage` if it is not."""
    tally = _object(value, "tally", TALLY_FIELDS)
    clean: dict[str, Any] = {}
    for name in ("screens", "tiles", "pages"):
        if name in tally:
            clean[name] = _ids(tally[name], name)
    if "forms" in tally:
        forms = tally["forms"]
        if not isinstance(forms, list) or len(forms) > MAX_ITEMS:
            raise MalformedMessage(f"usage forms must be a list of at most {MAX_ITEMS}")
        clean["forms"] = [_form(entry) for entry in forms]
    if "services" in tally:
        services = _object(tally["services"], "services", frozenset({"categories", "searches"}))
        clean["services"] = {
            "categories": _ids(services.get("categories", []), "services.categories"),
            "searches": _count(services.get("searches", 0), "services.searches"),
        }
    if "support" in tally:
        support = _object(tally["support"], "support", frozenset({"viewed", "requested"}))
        clean["support"] = {k: _flag(v, f"support.{k}") for k, v in support.items()}
    if "accessibility" in tally:
        access = _object(
            tally["accessibility"],
            "accessibility",
            frozenset({"text_size", "high_contrast", "read_aloud", "language_changes"}),
        )
        clean["accessibility"] = {
            k: _flag(v, k) if k == "high_contrast" else _count(v, k) for k, v in access.items()
        }
    for name in ("printed", "qr_shown"):
        if name in tally:
            clean[name] = _count(tally[name], name)
    if "ended_on" in tally:
        ended = tally["ended_on"]
        if not isinstance(ended, str) or not _ID.match(ended):
            raise MalformedMessage("usage ended_on must be a screen name")
        clean["ended_on"] = ended
    return clean
