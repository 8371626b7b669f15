"""Forms, signposts, information and services in the patient's journey, without a window.

The journey talks to the agent's real :class:`SessionDesk` in-process (the local API's
handler, without the socket), which checks every form against the same served files: the
shipped starter content. What the desk commits is kept, so each test sees exactly the
messages that would leave the unit.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from healthhub.agent.form_intake import ServedForms
from healthhub.agent.outbox import NewMessage
from healthhub.agent.sessions import SessionDesk
from healthhub.agent.staff_pin import PinGuard
from healthhub.protocol import local_api as api
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.ids import uuid7
from healthhub.ui.viewmodels.content_visits import FORM_SENT, NEEDS_DETAILS
from healthhub.ui.viewmodels.form_flow import FormState
from healthhub.ui.viewmodels.journey import Journey
from healthhub.ui.viewmodels.screen import Screen

STARTER = Path(__file__).resolve().parents[2] / "fleet" / "starter_content"
PATIENT = {"nhs_number": "9434765919", "birth_date": "1950-03-01"}


class InProcessAgent:
    """The agent's local-API handler with an outbox in memory."""

    def __init__(self, content: Path) -> None:
        self.taken: list[NewMessage] = []
        self.desk = SessionDesk(
            take=self._take,
            request=lambda kinds: ["p"],
            publish=lambda event: None,
            hello=self._empty,
            status=self._empty,
            pins=PinGuard(None),
            forms=ServedForms(lambda: content),
        )
        self._id = 0

    async def _empty(self) -> dict[str, Any]:
        return {}

    async def _take(self, message: NewMessage) -> Envelope:
        self.taken.append(message)
        return Envelope(
            id=str(uuid7()),
            device="kiosk-1",
            site="practice-a",
            seq=len(self.taken),
            stream=message.stream,
            kind=message.kind,
            at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            body=message.body,
        )

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        self._id += 1
        return await self.desk.handle(api.Request(self._id, op, args))

    def sent(self, stream: str) -> list[NewMessage]:
        return [m for m in self.taken if m.stream == stream]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def visit(*, content: Path = STARTER, language: str = "en") -> tuple[Journey, InProcessAgent]:
    agent = InProcessAgent(content)
    journey = Journey(agent, {"languages": ["en", "pl", "ur"]})
    journey.load_content(str(content))
    run(journey.start())
    journey.choose_language(language)
    return journey, agent


def skip_details(journey: Journey) -> None:
    journey.skip_identify()
    assert journey.screen == Screen.HOME


def test_every_content_tile_is_offered_only_with_its_content(tmp_path: Path) -> None:
    journey, _ = visit()
    names = [t.name for t in journey.offered_tiles]
    for tile in ("questionnaires", "my_details", "consultation", "information", "services"):
        assert tile in names
    assert "support" in names
    bare = Journey(InProcessAgent(tmp_path), {})
    bare.load_content(str(tmp_path))
    assert [t.name for t in bare.offered_tiles] == [
        "blood_pressure", "weight_height", "pulse_oxygen", "temperature"
    ]  # fmt: skip


def answer_phq9(journey: Journey, values: list[str]) -> None:
    for number, value in enumerate(values, start=1):
        run(journey.choose_answer(f"q{number}", value))
        if journey.screen == Screen.FORM:
            run(journey.next_form_page())


def test_phq9_item_9_signposts_crisis_at_once_alerts_staff_and_still_sends() -> None:
    journey, agent = visit()
    skip_details(journey)
    journey.choose_tile("questionnaires")
    assert journey.screen == Screen.FORMS
    journey.open_form("phq-9")
    flow = journey.form_flow
    assert flow is not None
    answer_phq9(journey, ["not_at_all"] * 8)
    assert journey.screen == Screen.FORM
    run(journey.choose_answer("q9", "several_days"))
    assert journey.screen == Screen.SIGNPOST, "crisis signposting the moment q9 is answered"
    assert flow.signpost == "crisis"
    assert flow.alerted
    (alert,) = agent.sent("alerts")
    assert alert.kind == "form_action"
    assert alert.body["form"] == "phq-9"
    assert alert.body["action"] == "item-9-crisis"
    assert alert.body["level"] == "urgent"
    assert alert.body["route"]["notify"]
    journey.carry_on_form()
    assert journey.screen == Screen.FORM
    run(journey.next_form_page())
    run(journey.choose_answer("q10", "somewhat_difficult"))
    while journey.screen == Screen.FORM:
        run(journey.next_form_page())
    assert journey.screen == Screen.FORM_DONE
    assert journey.form_message == FORM_SENT
    (submission,) = agent.sent("submissions")
    assert submission.kind == "questionnaire"
    assert submission.body["scores"] == {"total": 1}
    assert submission.body["answers"]["q9"] == "several_days"
    assert "patient" not in submission.body
    run(journey.end("finished"))
    (usage,) = agent.sent("usage")
    assert usage.body["forms"] == [{"form": "phq-9", "outcome": "completed", "page": ""}]
    assert usage.body["forms_submitted"] == 1
    assert usage.body["identified"] is False  # a PHQ-9 sent without the patient's details
    assert "signpost" in usage.body["screens"]
    assert usage.body["tiles"] == ["questionnaires"]


def test_an_action_fires_once_even_when_the_answer_is_changed_back_and_forth() -> None:
    journey, agent = visit()
    skip_details(journey)
    journey.open_form("phq-9")
    answer_phq9(journey, ["not_at_all"] * 8)
    run(journey.choose_answer("q9", "nearly_every_day"))
    journey.carry_on_form()
    run(journey.choose_answer("q9", "not_at_all"))
    run(journey.choose_answer("q9", "several_days"))
    assert journey.screen == Screen.FORM
    assert len(agent.sent("alerts")) == 1


def test_a_validated_questionnaire_is_shown_in_english_when_it_has_no_translation() -> None:
    journey, _ = visit(language="ur")
    skip_details(journey)
    journey.open_form("phq-9")
    flow = journey.form_flow
    assert flow is not None
    assert flow.form.languages == {"en"}  # published wording only; no translation shipped
    assert not flow.translated
    assert flow.language == "en"
    journey.leave_form()
    journey.choose_language("pl")
    journey.open_form("post-consultation")
    flow = journey.form_flow
    assert flow is not None
    assert flow.translated
    assert flow.language == "pl"
    assert flow.text(flow.form.title) == flow.form.title.get("pl")


def test_change_of_details_needs_the_patient_and_carries_only_what_was_shown() -> None:
    journey, agent = visit()
    skip_details(journey)
    journey.choose_tile("my_details")
    assert journey.screen == Screen.IDENTIFY, "details first: the practice must know who"
    journey.skip_identify()
    assert journey.screen == Screen.HOME
    assert journey.notice == NEEDS_DETAILS
    journey.choose_tile("my_details")
    for key in PATIENT["nhs_number"]:
        journey.press_key(key)
    for key in "01031950":
        journey.press_key(key)
    assert journey.submit_identity()
    assert journey.screen == Screen.FORM
    run(journey.choose_answer("details", "email"))
    run(journey.choose_answer("details", "address"))
    run(journey.choose_answer("details", "email"))  # changed their mind: email off again
    run(journey.next_form_page())
    journey.type_answer("address_line_1", "10 Downing Street")
    journey.type_answer("town", "London")
    journey.type_answer("postcode", "SW1A 1A")
    run(journey.next_form_page())
    flow = journey.form_flow
    assert flow is not None
    assert flow.errors == {"postcode": "bad_postcode"}
    journey.type_answer("postcode", "sw1a 2aa")
    while journey.screen == Screen.FORM:
        run(journey.next_form_page())
    assert journey.screen == Screen.FORM_DONE
    (submission,) = agent.sent("submissions")
    assert submission.kind == "change_of_details"
    assert submission.body["patient"] == PATIENT
    assert submission.body["answers"]["postcode"] == "SW1A 2AA"
    assert "email_address" not in submission.body["answers"]
    run(journey.end("finished"))
    (usage,) = agent.sent("usage")
    assert usage.body["identified"] is True  # counted as identified, never who
    forms = usage.body["forms"]
    assert forms[0] == {"form": "change-of-details", "outcome": "abandoned", "page": "what"}
    assert forms[-1]["outcome"] == "completed"


def test_a_red_flag_stops_the_consultation_request_and_sends_nothing() -> None:
    journey, agent = visit()
    journey.skip_identify()
    journey.choose_tile("consultation")
    if journey.screen == Screen.IDENTIFY:
        for key in PATIENT["nhs_number"] + "01031950":
            journey.press_key(key)
        assert journey.submit_identity()
    assert journey.screen == Screen.FORM
    run(journey.choose_answer("chest_pain", True))
    assert journey.screen == Screen.SIGNPOST
    flow = journey.form_flow
    assert flow is not None
    assert flow.state == FormState.STOPPED
    assert flow.signpost == "emergency"
    assert agent.sent("submissions") == []
    run(journey.end("finished"))
    forms = agent.sent("usage")[0].body["forms"]
    assert forms == [{"form": "consultation-request", "outcome": "stopped", "page": "red-flags"}]


def test_the_agent_refuses_what_the_form_does_not_allow() -> None:
    journey, agent = visit()
    session = journey.session

    def submit(**args: Any) -> str:
        with pytest.raises(api.LocalApiError) as refused:
            run(agent.call("form.submit", session=session, **args))
        return refused.value.code

    phq = {f"q{n}": "not_at_all" for n in range(1, 10)}
    assert submit(form="phq-9", version=99, answers=phq) == "no_form"
    assert submit(form="no-such-form", version=1, answers={}) == "no_form"
    assert submit(form="../secrets", version=1, answers={}) == "bad_request"
    assert submit(form="phq-9", version=1, answers={**phq, "q9": "maybe"}) == "bad_answer"
    # q10 is shown only when a problem was ticked: an answer to it is refused
    assert submit(form="phq-9", version=1, answers={**phq, "q10": "not_difficult"}) == "bad_answer"
    assert submit(form="change-of-details", version=1, answers={"details": ["email"]}) in (
        "no_patient", "bad_answer"
    )  # fmt: skip
    with pytest.raises(api.LocalApiError):
        run(agent.call("alert.raise", session=session, reason="form_action", form="gad-7",
                       action="item-9-crisis"))  # fmt: skip
    assert agent.sent("submissions") == []
    assert agent.sent("alerts") == []


def test_content_pushed_during_a_visit_waits_until_the_patient_is_forgotten(
    tmp_path: Path,
) -> None:
    journey, _ = visit()
    skip_details(journey)
    assert journey.offers("services")
    journey.load_content(str(tmp_path))  # a push that takes the services away
    assert journey.offers("services"), "nothing moves under the patient's finger"
    run(journey.end("finished"))
    journey.wipe()
    assert not journey.offers("services")


def test_services_by_group_and_information_pages_are_counted_without_identity() -> None:
    journey, agent = visit(language="pl")
    skip_details(journey)
    journey.choose_tile("services")
    assert journey.screen == Screen.SERVICES
    directory = journey.content.directory
    assert directory is not None
    everything = journey.services()
    category = directory.categories[0].id
    journey.choose_category(category)
    chosen = journey.services()
    assert chosen
    assert all(s.category == category for s in chosen)
    assert len(chosen) < len(everything)
    journey.back_to_menu()
    journey.choose_tile("information")
    page = journey.content.pages[0]
    journey.open_page(page.id)
    assert journey.screen == Screen.PAGE
    assert page.title.has("pl")
    run(journey.end("finished"))
    usage = agent.sent("usage")[0].body
    assert usage["language"] == "pl"
    assert usage["services"] == {"categories": [category], "searches": 1}
    assert usage["pages"] == [page.id]
    assert usage["accessibility"]["language_changes"] == 1
    assert "patient" not in usage
