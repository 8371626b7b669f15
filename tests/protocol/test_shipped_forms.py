"""The forms Health Hub ships load, score as their published instruments do, and act on red
flags."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from healthhub.protocol.forms import AnswerInvalid, Form, Score, load_form

FORMS = Path(__file__).resolve().parents[2] / "fleet" / "starter_content" / "forms"
TODAY = date(2025, 6, 10)
SHIPPED = sorted(FORMS.glob("*.yaml"))
BILINGUAL = [
    "change-of-details",
    "consultation-request",
    "digital-support-request",
    "post-consultation",
    "pre-consultation",
]


def form(name: str) -> Form:
    return load_form(FORMS / f"{name}.yaml")


def answers_summing_to(shipped: Form, score: Score, total: int) -> dict[str, str]:
    """Answers to the items of ``score`` that add up to ``total``: each item takes the
    highest option that still fits, in order."""
    answers: dict[str, str] = {}
    left = total
    for qid in score.items:
        options = sorted(shipped.question(qid).options, key=lambda o: o.score or 0)
        option = max((o for o in options if (o.score or 0) <= left), key=lambda o: o.score or 0)
        answers[qid] = option.value
        left -= option.score or 0
    assert left == 0, f"no answers make {total}"
    return answers


def band_of(shipped: Form, answers: dict[str, Any]) -> str:
    score = shipped.scores[0]
    band = score.band(shipped.scores_of(answers)[score.id])
    assert band is not None
    return band.label.get("en")


def test_the_forms_are_all_there() -> None:
    assert [path.stem for path in SHIPPED] == [
        "audit-c",
        "change-of-details",
        "consultation-request",
        "digital-support-request",
        "gad-7",
        "phq-9",
        "post-consultation",
        "pre-consultation",
        "smoking-status",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_form_loads_and_cites_its_source(path: Path) -> None:
    shipped = load_form(path)
    assert shipped.id == path.stem  # a form's id is its file's name (patient_content)
    assert shipped.source
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#")
    assert "Source" in text.split("\nform:")[0]


@pytest.mark.parametrize("name", BILINGUAL)
def test_practice_forms_are_in_english_and_polish_throughout(name: str) -> None:
    assert form(name).languages == frozenset({"en", "pl"})


def test_identity_goes_with_requests_and_never_with_feedback() -> None:
    assert form("change-of-details").identity == "required"
    assert form("consultation-request").identity == "required"
    assert form("post-consultation").identity == "none"  # the FFT is anonymous
    assert form("digital-support-request").identity == "optional"


# -- PHQ-9 ---------------------------------------------------------------------------------

PHQ9_BANDS = [
    (0, "Minimal"),
    (4, "Minimal"),
    (5, "Mild"),
    (9, "Mild"),
    (10, "Moderate"),
    (14, "Moderate"),
    (15, "Moderately severe"),
    (19, "Moderately severe"),
    (20, "Severe"),
    (27, "Severe"),
]


@pytest.mark.parametrize(("total", "band"), PHQ9_BANDS)
def test_phq9_totals_land_in_their_published_bands(total: int, band: str) -> None:
    phq9 = form("phq-9")
    (score,) = phq9.scores
    assert score.range == (0, 27)
    answers = answers_summing_to(phq9, score, total)
    assert phq9.scores_of(answers) == {"total": total}
    assert band_of(phq9, answers) == band
    # The submission the agent checks gives the same total; the difficulty question is asked
    # only when a problem was ticked.
    if total:
        answers["q10"] = "somewhat_difficult"
    checked, scores = phq9.check_submission(answers, today=TODAY)
    assert scores == {"total": total}
    assert ("q10" in checked) == (total > 0)


def test_phq9_has_the_published_items_and_options() -> None:
    phq9 = form("phq-9")
    assert [q.id for q in phq9.questions] == [f"q{n}" for n in range(1, 11)]
    assert [(o.label.get("en"), o.score) for o in phq9.question("q1").options] == [
        ("Not at all", 0),
        ("Several days", 1),
        ("More than half the days", 2),
        ("Nearly every day", 3),
    ]
    assert phq9.question("q9").prompt.get("en") == (
        "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert phq9.pages[0].intro is not None
    assert phq9.pages[0].intro.get("en") == (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    assert all(o.score is None for o in phq9.question("q10").options)  # not scored


def test_phq9_item_9_above_not_at_all_raises_a_crisis_at_once() -> None:
    phq9 = form("phq-9")
    for answer in ("several_days", "more_than_half", "nearly_every_day"):
        (action,) = phq9.actions_due({"q9": answer}, at="answer")
        assert (action.id, action.signpost, action.alert, action.stop) == (
            "item-9-crisis",
            "crisis",
            "urgent",
            False,
        )
    assert phq9.actions_due({"q9": "not_at_all"}, at="answer") == []
    assert phq9.actions_due({}, at="answer") == []


# -- GAD-7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "Minimal"),
        (4, "Minimal"),
        (5, "Mild"),
        (9, "Mild"),
        (10, "Moderate"),
        (14, "Moderate"),
        (15, "Severe"),
        (21, "Severe"),
    ],
)
def test_gad7_totals_land_in_their_published_bands(total: int, band: str) -> None:
    gad7 = form("gad-7")
    (score,) = gad7.scores
    assert score.range == (0, 21)
    assert band_of(gad7, answers_summing_to(gad7, score, total)) == band


def test_gad7_at_its_maximum_is_every_item_nearly_every_day() -> None:
    gad7 = form("gad-7")
    answers = {f"q{n}": "nearly_every_day" for n in range(1, 8)}
    assert gad7.scores_of(answers) == {"total": 21}
    assert gad7.visible_pages(answers)[-1].id == "difficulty"


# -- AUDIT-C -------------------------------------------------------------------------------


def test_audit_c_is_positive_from_5() -> None:
    audit = form("audit-c")
    (score,) = audit.scores
    assert score.range == (0, 12)
    lower = {"frequency": "two_to_four_a_month", "units": "three_to_four", "heavy": "monthly"}
    assert audit.scores_of(lower) == {"total": 5}
    assert band_of(audit, lower) == "Positive: increasing or higher risk"
    four = lower | {"heavy": "less_than_monthly"}
    assert audit.scores_of(four) == {"total": 4}
    assert band_of(audit, four) == "Lower risk"
    most = {"frequency": "four_or_more_a_week", "units": "ten_or_more", "heavy": "daily"}
    assert audit.scores_of(most) == {"total": 12}
    assert band_of(audit, most) == "Positive: increasing or higher risk"


# -- smoking -------------------------------------------------------------------------------


def test_a_smoker_who_wants_help_is_pointed_to_a_pharmacy() -> None:
    smoking = form("smoking-status")
    wants = {"status": "current", "vapes": False, "per_day": "15", "wants_help": True}
    checked, _ = smoking.check_submission(wants, today=TODAY)
    assert checked["per_day"] == 15
    (action,) = smoking.actions_due(checked, at="end")
    assert (action.signpost, action.alert, action.stop) == ("pharmacy", None, False)
    assert smoking.actions_due(wants | {"wants_help": False}, at="end") == []
    with pytest.raises(AnswerInvalid) as caught:
        smoking.check_submission({"status": "never", "vapes": False, "per_day": 3}, today=TODAY)
    assert caught.value.code == "not_shown"


# -- consultation request ------------------------------------------------------------------

RED_FLAGS = ["chest_pain", "breathing", "stroke", "bleeding", "self_harm", "very_unwell"]
NO_RED_FLAGS = dict.fromkeys(RED_FLAGS, False)


@pytest.mark.parametrize(
    ("flag", "signpost", "alert"),
    [
        ("chest_pain", "emergency", None),
        ("breathing", "emergency", None),
        ("stroke", "emergency", None),
        ("bleeding", "emergency", None),
        ("self_harm", "crisis", "urgent"),
        ("very_unwell", "urgent", None),
    ],
)
def test_a_red_flag_stops_the_request_and_points_elsewhere(
    flag: str, signpost: str, alert: str | None
) -> None:
    request = form("consultation-request")
    assert request.pages[0].id == "red-flags"
    assert [q.id for q in request.pages[0].questions] == RED_FLAGS
    (action,) = request.actions_due({flag: True}, at="answer")
    assert (action.signpost, action.alert, action.stop) == (signpost, alert, True)
    assert request.actions_due({flag: False}, at="answer") == []


def test_a_request_without_red_flags_is_checked_and_sent() -> None:
    request = form("consultation-request")
    answers = NO_RED_FLAGS | {
        "problem": "  A rash on my arm  ",
        "duration": "few_days",
        "urgency": "today",
        "contact_method": "phone_call",
        "contact_phone": "+44 7700 900123",
        "best_times": ["afternoon", "morning"],
    }
    assert request.actions_due(answers, at="answer") == []
    checked, scores = request.check_submission(answers, today=TODAY)
    assert checked["problem"] == "A rash on my arm"
    assert checked["contact_phone"] == "07700900123"
    assert checked["best_times"] == ["morning", "afternoon"]
    assert scores == {}
    (same_day,) = request.actions_due(checked, at="end")
    assert (same_day.alert, same_day.stop) == ("raised", False)
    by_email = answers | {"contact_method": "email", "contact_email": "Me@Example.COM"}
    with pytest.raises(AnswerInvalid) as caught:
        request.check_submission(by_email, today=TODAY)
    assert (caught.value.question, caught.value.code) == ("contact_phone", "not_shown")
    del by_email["contact_phone"], by_email["best_times"]
    checked, _ = request.check_submission(by_email, today=TODAY)
    assert checked["contact_email"] == "Me@example.com"


# -- change of details ---------------------------------------------------------------------

ADDRESS = {
    "address_line_1": "1 High Street",
    "town": "Leeds",
    "postcode": "ls1 4ap",
}


def test_change_of_details_asks_for_the_address_only_when_it_changes() -> None:
    change = form("change-of-details")
    address_page = next(page for page in change.pages if page.id == "address")
    shown = [q.id for q in change.visible_questions(address_page, {"details": ["address"]})]
    assert shown == ["address_line_1", "address_line_2", "town", "postcode", "moved_on"]
    assert change.visible_questions(address_page, {"details": ["email"]}) == []
    assert address_page not in change.visible_pages({"details": ["email"]})
    checked, _ = change.check_submission({"details": ["address"], **ADDRESS}, today=TODAY)
    assert checked["postcode"] == "LS1 4AP"
    with pytest.raises(AnswerInvalid) as caught:
        change.check_submission(
            {"details": ["email"], "email_address": "me@example.com", **ADDRESS}, today=TODAY
        )
    assert (caught.value.question, caught.value.code) == ("address_line_1", "not_shown")


def test_change_of_details_refuses_a_bad_postcode() -> None:
    change = form("change-of-details")
    with pytest.raises(AnswerInvalid) as caught:
        change.check_submission({"details": ["address"], **ADDRESS, "postcode": "LS1"}, today=TODAY)
    assert (caught.value.question, caught.value.code) == ("postcode", "bad_postcode")


def test_change_of_details_checks_phone_email_and_moving_date() -> None:
    change = form("change-of-details")
    answers = {
        "details": ["phone", "email", "address"],
        **ADDRESS,
        "moved_on": "2025-07-01",
        "phone_number": "(0113) 496 0123",
        "texts_ok": False,
        "email_address": "jo@example.nhs.net",
    }
    checked, _ = change.check_submission(answers, today=TODAY)
    assert checked["phone_number"] == "01134960123"
    assert checked["details"] == ["address", "phone", "email"]
    for field, value, code in [
        ("phone_number", "0600 123 4567", "bad_phone"),
        ("email_address", "jo@example", "bad_email"),
        ("moved_on", "2026-01-01", "too_late"),  # more than 3 months ahead
        ("moved_on", "2023-01-01", "too_early"),
    ]:
        with pytest.raises(AnswerInvalid) as caught:
            change.check_submission(answers | {field: value}, today=TODAY)
        assert (caught.value.question, caught.value.code) == (field, code)


def test_communication_needs_ask_for_the_interpreters_language() -> None:
    change = form("change-of-details")
    answers = {"details": ["communication"], "needs": ["interpreter", "large_print"]}
    page = change.pages[-1]
    shown = [q.id for q in change.visible_questions(page, answers)]
    assert shown == ["needs", "interpreter_language"]
    with pytest.raises(AnswerInvalid) as caught:
        change.check_submission(answers, today=TODAY)
    assert (caught.value.question, caught.value.code) == ("interpreter_language", "required")


# -- the other practice forms --------------------------------------------------------------


def test_digital_support_asks_for_a_phone_only_to_call() -> None:
    support = form("digital-support-request")
    call = {"help_with": ["nhs_app"], "contact_method": "phone", "phone": "07700 900123"}
    checked, _ = support.check_submission(call, today=TODAY)
    assert checked["phone"] == "07700900123"
    assert support.actions_due(checked, at="end") == []
    drop_in = {"help_with": ["nhs_app"], "contact_method": "drop_in"}
    (action,) = support.actions_due(drop_in, at="end")
    assert action.signpost == "reception"
    with pytest.raises(AnswerInvalid) as caught:
        support.check_submission(drop_in | {"phone": "07700 900123"}, today=TODAY)
    assert caught.value.code == "not_shown"


def test_pre_consultation_asks_which_medicines_only_of_those_taking_some() -> None:
    pre = form("pre-consultation")
    base = {"topic": "My knee", "takes_medicines": False}
    assert pre.check_submission(base, today=TODAY)[0] == base
    with pytest.raises(AnswerInvalid) as caught:
        pre.check_submission(base | {"takes_medicines": True}, today=TODAY)
    assert (caught.value.question, caught.value.code) == ("medicine_list", "required")


def test_post_consultation_uses_the_friends_and_family_test_wording() -> None:
    post = form("post-consultation")
    fft = post.question("fft")
    assert fft.prompt.get("en") == "Overall, how was your experience of our service?"
    assert [o.label.get("en") for o in fft.options] == [
        "Very good",
        "Good",
        "Neither good nor poor",
        "Poor",
        "Very poor",
        "Don't know",
    ]
    checked, _ = post.check_submission({"understood": "no", "fft": "good"}, today=TODAY)
    assert checked == {"understood": "no", "fft": "good"}
