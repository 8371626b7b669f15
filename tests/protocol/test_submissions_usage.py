"""The shapes of form submissions and visit tallies, as the device and the practice check them."""

from __future__ import annotations

from typing import Any

import pytest

from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.submissions import check_form_submission
from healthhub.protocol.usage import MAX_ITEMS, check_usage

GOOD: dict[str, Any] = {
    "form": "phq-9",
    "version": 1,
    "purpose": "questionnaire",
    "language": "en",
    "answers": {"q1": "several_days", "q10": "not_difficult"},
    "scores": {"total": 1},
    "bands": {"total": "Minimal"},
    "actions": [],
    "session": "0190a0b0-0000-7000-8000-000000000000",
}


def test_a_good_submission_passes_with_or_without_a_patient() -> None:
    check_form_submission("questionnaire", GOOD)
    patient = {"nhs_number": "9434765919", "birth_date": "1950-03-01"}
    check_form_submission("questionnaire", {**GOOD, "patient": patient})


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("readings", {}),  # not a form kind
        ("change_of_details", {}),  # purpose differs from the kind
        ("questionnaire", {"form": "../x"}),
        ("questionnaire", {"version": 0}),
        ("questionnaire", {"version": True}),
        ("questionnaire", {"answers": {"q1": {"nested": 1}}}),
        ("questionnaire", {"answers": {"Q 1": "x"}}),
        ("questionnaire", {"answers": {"q1": "x" * 2001}}),
        ("questionnaire", {"scores": {"total": 1.5}}),
        ("questionnaire", {"patient": {"nhs_number": "123"}}),
        ("questionnaire", {"actions": "item-9"}),
        ("questionnaire", {"surprise": 1}),
    ],
)
def test_a_malformed_submission_is_refused(kind: str, change: dict[str, Any]) -> None:
    with pytest.raises(MalformedMessage):
        check_form_submission(kind, {**GOOD, **change})


def test_a_visit_tally_is_checked_and_copied() -> None:
    tally = {
        "screens": ["identify", "home", "form"],
        "forms": [{"form": "phq-9", "outcome": "abandoned", "page": "item-3"}],
        "services": {"categories": ["carers"], "searches": 2},
        "support": {"viewed": True},
        "accessibility": {"text_size": 2, "high_contrast": True, "read_aloud": 1},
        "qr_shown": 1,
        "ended_on": "form",
    }
    assert check_usage(tally) == tally


@pytest.mark.parametrize(
    "tally",
    [
        {"free_text": "my address"},
        {"screens": ["Home Screen"]},
        {"screens": ["a"] * (MAX_ITEMS + 1)},
        {"forms": [{"form": "phq-9", "outcome": "liked"}]},
        {"forms": [{"form": "phq-9", "outcome": "completed", "answers": {}}]},
        {"services": {"searches": -1}},
        {"accessibility": {"high_contrast": 1}},
        {"printed": True},
        {"ended_on": ""},
        [],
    ],
)
def test_a_tally_that_could_carry_anything_else_is_refused(tally: Any) -> None:
    with pytest.raises(MalformedMessage):
        check_usage(tally)
