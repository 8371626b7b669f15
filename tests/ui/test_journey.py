"""The patient's journey, driven without a window: every rule the screens rely on."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from healthhub.protocol import local_api as api
from healthhub.ui.banding import OXIMETER_SKIN, FamilyBackground, Level
from healthhub.ui.viewmodels.hours import OperatingHours
from healthhub.ui.viewmodels.idle import IdleState, IdleTimer
from healthhub.ui.viewmodels.journey import (
    HELP_COMING,
    HELP_NOTICE_S,
    NOT_SENT,
    SENT,
    URGENT_ALERT_FAILED,
    URGENT_ALERT_SENT,
    IdentifyField,
    Journey,
)
from healthhub.ui.viewmodels.measurement import MeasureState
from healthhub.ui.viewmodels.results import ResultItem
from healthhub.ui.viewmodels.screen import Screen
from healthhub.ui.viewmodels.staff import LONG_PRESS_S, Staff, status_lines

VALID_NHS = "9434765919"


class Agent:
    """A stand-in for the local API client: records calls, answers like the agent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, Exception] = {}
        self.sessions = 0

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.calls.append((op, args))
        if op in self.fail:
            raise self.fail[op]
        if op == "session.start":
            self.sessions += 1
            return {"session": f"s{self.sessions}"}
        if op == "measure.start":
            return {"peripherals": ["p"]}
        if op == "alert.raise":
            return {"alert": "a1"}
        if op == "session.send":
            return {"submission": "sub1"}
        return {}

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def last(self, op: str) -> dict[str, Any]:
        return next(args for name, args in reversed(self.calls) if name == op)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def journey(agent: Agent | None = None, **ui: Any) -> tuple[Journey, Agent, Clock]:
    agent = agent or Agent()
    clock = Clock()
    settings = {"idle_timeout_s": 60, "warning_s": 30, **ui}
    return Journey(agent, settings, clock=clock), agent, clock


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def reading(kind: str, rid: str = "r1", session: str = "s1", **values: float) -> api.Event:
    components = [{"code": k, "value": v, "unit": "x"} for k, v in values.items()]
    data = {"session": session, "id": rid, "kind": kind, "components": components}
    return api.Event("reading", data)


def type_digits(j: Journey, digits: str) -> None:
    for key in digits:
        j.press_key(key)


def measure(j: Journey, tile: str, *events: api.Event) -> None:
    j.choose_tile(tile)
    run(j.start_measuring())
    done = None
    for event in events:
        done = j.on_event(event) or done
    if done is not None:
        run(j.measurement_done())


def test_identify_checks_the_nhs_number_and_never_dead_ends() -> None:
    j, _, _ = journey()
    run(j.start())
    assert j.screen == Screen.IDENTIFY
    type_digits(j, "9434765918")  # last digit wrong
    assert j.field == IdentifyField.DAY  # ten digits typed: on to the day
    type_digits(j, "01031950")
    assert not j.submit_identity()
    assert j.identify_error is not None
    assert "not right" in j.identify_error.text()
    assert j.field == IdentifyField.NHS_NUMBER
    assert j.screen == Screen.IDENTIFY
    j.skip_identify()  # the way out is always there
    assert j.screen == Screen.HOME
    assert j.nhs_number.digits == ""
    assert j.patient is None


def test_identify_accepts_a_valid_number_and_date_of_birth() -> None:
    j, _, _ = journey()
    run(j.start())
    type_digits(j, VALID_NHS + "01031950")
    assert j.submit_identity()
    assert j.patient == {"nhs_number": VALID_NHS, "birth_date": "1950-03-01"}
    assert j.screen == Screen.HOME


def test_an_impossible_birth_date_is_explained() -> None:
    j, _, _ = journey()
    run(j.start())
    type_digits(j, VALID_NHS + "31021950")
    assert not j.submit_identity()
    assert j.identify_error is not None
    assert j.field == IdentifyField.DAY


def test_urgent_blood_pressure_raises_an_alert_then_sending_asks_for_details_and_wipes() -> None:
    j, agent, _ = journey()
    run(j.start())
    j.skip_identify()
    j.choose_tile("blood_pressure")
    assert j.flow is not None
    for _ in j.flow.tile.steps[1:]:
        j.flow.next_step()
    assert j.flow.on_last_step
    measure(
        j,
        "blood_pressure",
        api.Event("peripheral", {"kinds": ["blood_pressure"], "state": "measuring"}),
        reading("blood_pressure", systolic=186, diastolic=121, pulse=90),
    )
    assert j.screen == Screen.RESULT
    alert = agent.last("alert.raise")
    assert alert["reading"] == "r1"
    assert alert["reason"] == "urgent_result"
    assert alert["level"] == "urgent"
    assert j.urgent_notice == URGENT_ALERT_SENT
    bp = j.results[0]
    assert bp.value == "186/121"
    assert bp.band is not None
    assert bp.band.level == Level.URGENT
    run(j.finish_visit())
    assert j.screen == Screen.SEND
    run(j.send(True))  # no details given yet: ask for them, for this purpose
    assert j.screen == Screen.IDENTIFY
    type_digits(j, VALID_NHS + "01031950")
    assert j.submit_identity()
    assert j.screen == Screen.SEND
    run(j.send(True))
    sent = agent.last("session.send")
    assert sent["patient"]["nhs_number"] == VALID_NHS
    assert sent["readings"] == ["r1"]
    assert agent.last("session.end")["reason"] == "finished"
    assert j.screen == Screen.FINISHED
    assert j.farewell == SENT
    # Forgotten: nothing typed or measured is left in the view-model.
    assert j.patient is None
    assert j.nhs_number.digits == j.day.digits == j.year.digits == ""
    assert j.readings == []
    assert j.results == []
    assert j.session is None


def test_if_the_alert_cannot_be_raised_the_patient_is_sent_to_reception() -> None:
    agent = Agent()
    agent.fail["alert.raise"] = api.LocalApiError("outbox_full", "full")
    j, _, _ = journey(agent)
    run(j.start())
    j.skip_identify()
    measure(j, "pulse_oxygen", reading("oxygen_saturation", spo2=91, pulse=80))
    assert j.screen == Screen.RESULT
    assert j.urgent_notice == URGENT_ALERT_FAILED


@pytest.mark.parametrize("spo2", [99, 95, 93, 88])
def test_every_oxygen_result_the_patient_sees_warns_about_darker_skin(spo2: int) -> None:
    """The caution reaches the result the screen shows, whatever the number (H9)."""
    j, _, _ = journey()
    run(j.start())
    j.skip_identify()
    measure(j, "pulse_oxygen", reading("oxygen_saturation", spo2=spo2, pulse=80))
    assert j.screen == Screen.RESULT
    (oxygen,) = [
        item for item in j.results if item.band is not None and item.title == "Oxygen level"
    ]
    assert OXIMETER_SKIN in oxygen.band.cautions


def test_a_normal_result_raises_no_alert_and_declining_sends_nothing() -> None:
    j, agent, _ = journey()
    run(j.start())
    j.skip_identify()
    measure(j, "temperature", reading("body_temperature", temperature=36.8))
    assert j.screen == Screen.RESULT
    assert "alert.raise" not in agent.ops()
    assert j.urgent_notice == ""
    run(j.finish_visit())
    run(j.send(False))
    assert "session.send" not in agent.ops()
    assert j.farewell == NOT_SENT
    assert j.screen == Screen.FINISHED


def bmi_journey(weight: float, background: FamilyBackground) -> tuple[Journey, Agent]:
    """Weight and height at a height of 170 cm, then the family-background answer."""
    j, agent, _ = journey()
    run(j.start())
    j.skip_identify()
    measure(
        j,
        "weight_height",
        reading("body_weight", rid="w", weight=weight),
        reading("body_height", rid="h", height=170.0),
    )
    assert j.screen == Screen.BACKGROUND  # asked, never assumed
    run(j.choose_background(background))
    assert j.screen == Screen.RESULT
    return j, agent


def bmi_item(j: Journey) -> ResultItem:
    item = next(i for i in j.results if i.measure == "bmi")
    assert item.band is not None
    return item


def test_bmi_is_sent_with_the_family_background_the_patient_gave() -> None:
    j, agent = bmi_journey(75.0, FamilyBackground.HIGHER_RISK)
    assert bmi_item(j).value == "26"  # 75 / 1.7^2 = 25.95
    run(j.finish_visit())
    j.patient = {"nhs_number": VALID_NHS, "birth_date": "1950-03-01"}
    run(j.send(True))
    sent = agent.last("session.send")
    assert sent["derived"][0]["kind"] == "bmi"
    assert sent["derived"][0]["components"][0]["value"] == 26.0
    assert sent["context"]["family_background"] == "higher_risk"


def test_lower_bmi_thresholds_change_the_band_at_24() -> None:
    # 69.4 / 1.7^2 = 24.0: healthy on the standard scale, overweight on NICE's lower one.
    higher_risk = bmi_item(bmi_journey(69.4, FamilyBackground.HIGHER_RISK)[0])
    other = bmi_item(bmi_journey(69.4, FamilyBackground.OTHER)[0])
    not_said = bmi_item(bmi_journey(69.4, FamilyBackground.NOT_SAID)[0])
    assert higher_risk.band is not None
    assert other.band is not None
    assert not_said.band is not None
    assert higher_risk.band.level == Level.RAISED
    assert other.band.level == Level.NORMAL
    assert not_said.band.level == Level.NORMAL  # never assumed...
    assert not_said.band.cautions  # ...but told that lower ranges apply to some backgrounds


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (api.Event("refused", {"kinds": ["blood_pressure"], "reason": "x"}), MeasureState.REFUSED),
        (
            api.Event("peripheral", {"kinds": ["blood_pressure"], "state": "error"}),
            MeasureState.ERROR,
        ),
        (  # another device's trouble is not this measurement's
            api.Event("peripheral", {"kinds": ["body_weight"], "state": "error"}),
            MeasureState.STARTING,
        ),
    ],
)
def test_device_trouble_mid_measurement_is_shown_with_a_way_on(
    event: api.Event, state: MeasureState
) -> None:
    j, _, _ = journey()
    run(j.start())
    j.skip_identify()
    measure(j, "blood_pressure", event)
    assert j.flow is not None
    assert j.flow.state == state
    assert j.screen == Screen.MEASURE


def test_no_device_and_agent_gone_are_clear_states() -> None:
    agent = Agent()
    agent.fail["measure.start"] = api.LocalApiError("no_device", "none")
    j, _, _ = journey(agent)
    run(j.start())
    j.skip_identify()
    measure(j, "temperature")
    assert j.flow is not None
    assert j.flow.state == MeasureState.NO_DEVICE
    agent.fail["measure.start"] = ConnectionError("agent restarting")
    run(j.start_measuring())
    assert j.flow.state == MeasureState.UNAVAILABLE


def test_a_reading_of_another_session_is_not_shown() -> None:
    j, _, _ = journey()
    run(j.start())
    j.skip_identify()
    measure(j, "temperature", reading("body_temperature", session="old", temperature=39.5))
    assert j.readings == []
    assert j.screen == Screen.MEASURE


def test_idle_warns_for_at_least_20_seconds_then_expires_and_a_touch_extends() -> None:
    clock = Clock()
    timer = IdleTimer(60, 20, clock)
    clock.now += 59.9
    assert timer.state() == IdleState.ACTIVE
    clock.now += 0.2
    assert timer.state() == IdleState.WARNING
    assert timer.remaining_s() == 20
    timer.touch()  # "I'm still here"
    assert timer.state() == IdleState.ACTIVE
    clock.now += 79.9
    assert timer.state() == IdleState.WARNING
    assert timer.remaining_s() == 1
    clock.now += 0.2
    assert timer.state() == IdleState.EXPIRED
    with pytest.raises(ValueError, match="20"):
        IdleTimer(60, 19, clock)


def test_idle_session_is_ended_and_wiped() -> None:
    j, agent, clock = journey()
    run(j.start())
    type_digits(j, VALID_NHS)
    clock.now += 60 + 30 + 1
    assert j.idle_state() == IdleState.EXPIRED
    run(j.end("idle"))
    assert agent.last("session.end")["reason"] == "idle"
    assert j.screen == Screen.ATTRACT
    assert j.nhs_number.digits == ""
    assert j.idle_state() == IdleState.ACTIVE  # the attract screen never times out


def test_unknown_language_codes_are_dropped_and_reported() -> None:
    j, _, _ = journey(languages=["en", "xx", "ur"], default_language="zz")
    assert j.languages == ["en", "ur"]
    assert "xx" in j.unknown_languages
    assert "zz" in j.unknown_languages
    assert j.language == "en"
    j.choose_language("xx")
    assert j.language == "en"
    j.choose_language("ur")
    assert j.rtl
    run(j.end())
    assert j.language == "en"  # the next patient starts in the default language


def test_text_size_has_three_steps_and_contrast_toggles() -> None:
    j, _, _ = journey()
    seen = set()
    for _ in range(3):
        seen.add(j.text_scale)
        j.bigger_text()
    assert seen == {0, 1, 2}
    j.toggle_contrast()
    assert j.high_contrast


def test_outside_opening_hours_the_unit_says_when_it_opens() -> None:
    hours = OperatingHours({"mon": ["08:00-12:30", "13:30-18:00"], "wed": ["09:00-17:00"]})
    monday = datetime(2026, 11, 23, 12, 45)  # a Monday lunchtime
    assert not hours.is_open(monday)
    opening = hours.next_opening(monday)
    assert opening is not None
    assert (opening.day_name, opening.at.isoformat()) == ("Monday", "13:30:00")
    evening = datetime(2026, 11, 23, 18, 0)
    opening = hours.next_opening(evening)
    assert opening is not None
    assert (opening.day_name, opening.at.hour) == ("Wednesday", 9)
    assert hours.is_open(datetime(2026, 11, 25, 9, 0))
    j, agent, _ = journey(operating_hours={"sun": ["10:00-11:00"]})
    j._now = lambda: monday
    run(j.start())
    assert j.screen == Screen.ATTRACT
    assert agent.ops() == []


def test_staff_screen_needs_a_long_press_then_the_agent_checks_the_pin() -> None:
    agent = Agent()
    clock = Clock()
    staff = Staff(agent, clock)
    staff.corner_down()
    clock.now += LONG_PRESS_S - 0.5
    assert not staff.corner_up()
    staff.corner_down()
    clock.now += LONG_PRESS_S
    assert staff.corner_up()
    assert staff.asking_pin
    for key in "4321":
        staff.pin.press(key)
    agent.fail["staff.unlock"] = api.LocalApiError("wrong_pin", "that PIN is not right")
    run(staff.unlock())
    assert not staff.unlocked
    assert staff.error == "that PIN is not right"
    assert staff.pin.digits == ""  # never kept
    del agent.fail["staff.unlock"]
    run(staff.unlock())
    assert staff.unlocked
    assert "status" in agent.ops()


def test_after_an_agent_restart_measuring_carries_on_in_a_new_session() -> None:
    agent = Agent()
    j, _, _ = journey(agent)
    run(j.start())
    j.skip_identify()
    measure(j, "temperature", reading("body_temperature", temperature=36.6))
    assert len(j.readings) == 1
    agent.fail["measure.start"] = api.LocalApiError("no_session", "unknown session")
    j.choose_tile("blood_pressure")

    async def restart_then_measure() -> None:
        original = agent.call

        async def once(op: str, **args: Any) -> dict[str, Any]:
            result = await original(op, **args)
            if op == "session.start":
                agent.fail.pop("measure.start", None)  # the new agent knows the new session
            return result

        agent.call = once  # type: ignore[method-assign]
        await j.start_measuring()

    run(restart_then_measure())
    assert j.session == "s2"
    assert j.flow is not None
    assert j.flow.state == MeasureState.STARTING
    assert j.readings == []  # the old session's reading cannot be named to the new agent


def test_the_attract_screen_rests_only_on_a_unit_with_a_presence_sensor() -> None:
    j, _, clock = journey(rest_after_s=300)
    clock.now += 10_000
    assert j.awake  # no presence sensor has spoken: never rests
    j.on_event(api.Event("presence", {"name": "pir"}))
    clock.now += 299
    assert j.awake
    clock.now += 2
    assert not j.awake
    j.on_event(api.Event("presence", {"name": "pir"}))  # someone walks up
    assert j.awake
    clock.now += 400
    run(j.start())  # a patient at the screen: it never rests under them
    assert j.awake


def test_the_help_button_is_acknowledged_then_the_notice_goes() -> None:
    j, _, clock = journey()
    j.on_event(api.Event("help_requested", {"alert": "a1", "source": "button:help"}))
    assert j.notice == HELP_COMING
    clock.now += HELP_NOTICE_S - 1
    j.expire_notices()
    assert j.notice == HELP_COMING
    clock.now += 1
    j.expire_notices()
    assert j.notice == ""


def test_a_scanned_nhs_number_fills_the_identify_screen_and_nothing_else_does() -> None:
    j, _, _ = journey()
    j.on_event(api.Event("scanned", {"text": VALID_NHS}))  # on the attract screen: ignored
    run(j.start())
    assert j.nhs_number.digits == ""
    j.on_event(api.Event("scanned", {"text": "9434765918"}))  # check digit wrong
    j.on_event(api.Event("scanned", {"text": "https://example.org/leaflet"}))
    assert j.nhs_number.digits == ""
    j.on_event(api.Event("scanned", {"text": "943 476 5919"}))
    assert j.nhs_number.digits == VALID_NHS
    assert j.field == IdentifyField.DAY


def test_the_staff_screen_shows_each_peripheral_with_its_battery() -> None:
    report = {
        "device": "kiosk-1",
        "site": "practice-a",
        "link": {"state": "connected"},
        "outbox": {"depth": 0, "bound": 100},
        "peripherals": {
            "bp-cuff": {"state": "waiting", "detail": "looking for the device", "battery": 64},
            "status-led": {"state": "waiting", "detail": "on", "battery": None},
        },
    }
    lines = status_lines(report, "0.1.0", [])
    assert "Peripheral bp-cuff: waiting (looking for the device), battery 64%" in lines
    assert "Peripheral status-led: waiting (on)" in lines


def test_pushed_settings_are_taken_at_once_on_the_attract_screen() -> None:
    j, _, clock = journey(languages=["en", "pl"], tiles=["blood_pressure", "temperature"])
    generation = j.generation
    j.configure(
        {
            "languages": ["ro", "en", "xx"],
            "default_language": "ro",
            "tiles": ["weight_height"],
            "idle_timeout_s": 20,
            "warning_s": 25,
        }
    )
    assert j.languages == ["ro", "en"]
    assert j.unknown_languages == ["xx"]
    assert j.language == "ro"
    assert [t.name for t in j.tiles] == ["weight_height"]
    assert j.generation > generation  # the screens rebuild their tiles
    run(j.start())
    clock.now += 21
    assert j.idle_state() == IdleState.WARNING


def test_pushed_settings_wait_until_the_patient_is_forgotten() -> None:
    j, _, _ = journey(languages=["en", "pl"], tiles=["blood_pressure", "temperature"])
    run(j.start())
    j.choose_language("pl")
    j.configure({"languages": ["en"], "tiles": ["temperature"]})
    assert j.language == "pl"  # nothing moves under the patient's finger
    assert [t.name for t in j.tiles] == ["blood_pressure", "temperature"]
    run(j.end())
    assert j.languages == ["en"]
    assert [t.name for t in j.tiles] == ["temperature"]
    assert j.language == "en"
