"""A patient's visit, from the attract screen until they are forgotten.

attract → (identify, optional) → home → measure → result → ... → send or not →
finished → attract. Everything the patient typed or measured lives in this
object only, in memory, and :meth:`Journey.wipe` drops all of it: the end of a
session, the idle timeout, or a new patient. Nothing here is written to disk
or logged.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any

from healthhub.protocol import local_api as api
from healthhub.ui import banding, identity
from healthhub.ui.banding import FamilyBackground
from healthhub.ui.i18n import LANGUAGES, N_
from healthhub.ui.tiles import TILES, Tile
from healthhub.ui.viewmodels.content_visits import ContentVisits
from healthhub.ui.viewmodels.hours import Opening, OperatingHours
from healthhub.ui.viewmodels.idle import IdleState, IdleTimer
from healthhub.ui.viewmodels.keypad import DigitEntry
from healthhub.ui.viewmodels.measurement import MeasurementFlow, MeasureState, Reading
from healthhub.ui.viewmodels.observable import AgentPort, Observable
from healthhub.ui.viewmodels.results import ResultItem, bmi_item, bmi_value, items_for
from healthhub.ui.viewmodels.screen import Screen
from healthhub.ui.viewmodels.usage_tally import UsageTally

log = logging.getLogger(__name__)

TEXT_SCALE_STEPS = 3
HELP_NOTICE_S = 120.0
HELP_COMING = N_("A member of staff has been told. They will come to help you.")
URGENT_ALERT_FAILED = N_("Please go to reception now and show them this screen.")
URGENT_ALERT_SENT = N_("Please speak to reception now. We have told the staff.")
OUTBOX_FULL = N_("This unit cannot save readings right now. Please ask at reception.")
SENT = N_("Your readings have been sent to your GP practice for your record.")
NOT_SENT = N_("Your readings have not been added to your record.")
NOTHING_TAKEN = N_("No readings were taken.")
GOODBYE = N_("Thank you for using the health hub.")


#: Screens of pushed content: a visit that used them did more than measure.
_CONTENT_SCREENS = frozenset(
    {"forms", "form", "signpost", "form_done", "info", "page", "services", "support"}
)
#: Screens not counted in a visit's usage (no visit is in progress on them).
_UNCOUNTED = frozenset({Screen.ATTRACT, Screen.FINISHED})


class IdentifyField(enum.StrEnum):
    NHS_NUMBER = "nhs_number"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class Journey(Observable, ContentVisits):
    def __init__(
        self,
        agent: AgentPort,
        ui: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = datetime.now,
        catalogues: Sequence[str] = tuple(LANGUAGES),
    ) -> None:
        super().__init__()
        self.agent = agent
        self._clock = clock
        self._now = now
        self._catalogues = tuple(catalogues)
        self._waiting: Mapping[str, Any] | None = None  # settings held until the patient goes
        self.settings_version = 0  # how many times settings were taken (screens redraw on it)
        self.idle = IdleTimer(90.0, 30.0, clock)
        self._configure(ui)
        self._presence_seen = False
        self._last_activity = clock()
        self._help_at = 0.0
        self.generation = 0  # how many times the patient's state was wiped
        self.results_version = 0  # how many times results were shown (screens redraw on it)
        self._init_content()
        self.wipe()

    # -- settings (device.yaml and remote layers, through the agent) ------------------

    def configure(self, ui: Mapping[str, Any]) -> None:
        """New UI settings from the agent (a pushed configuration layer). They are taken at
        once on the attract screen; during a patient's visit they wait until the patient
        is forgotten, so nothing moves under someone's finger."""
        if self._idle_now():
            self._configure(ui)
            self.language = self.default_language
            self.generation += 1  # screens rebuild their tiles and language buttons
            self.changed()
        else:
            self._waiting = ui

    def _configure(self, ui: Mapping[str, Any]) -> None:
        self.settings_version += 1
        configured = list(ui.get("languages", ["en"]))
        catalogues = self._catalogues
        #: configured language codes we have no catalogue for: shown on the staff screen
        self.unknown_languages = [c for c in configured if c not in catalogues]
        self.languages = [c for c in configured if c in catalogues] or ["en"]
        default = ui.get("default_language", "en")
        if default not in self.languages:
            self.unknown_languages += [] if default in catalogues else [default]
            default = self.languages[0]
        self.default_language = default
        self.tiles = [TILES[name] for name in ui.get("tiles", TILES) if name in TILES]
        self.hours = OperatingHours(
            ui.get("operating_hours"),
            [date.fromisoformat(d) for d in ui.get("closures", [])],
        )
        self.idle.configure(float(ui.get("idle_timeout_s", 90)), float(ui.get("warning_s", 30)))
        self.staff_screen = bool(ui.get("staff_screen", False))
        # The attract screen rests (dims) when nobody has been near for this long; only on a
        # unit whose presence sensor has spoken, so a unit without one never rests.
        self.rest_after_s = float(ui.get("rest_after_s", 300))

    def _idle_now(self) -> bool:
        """Nobody is using the unit: new settings and content may be taken at once."""
        return self.screen == Screen.ATTRACT and self.session is None

    def _today(self) -> date:
        return self._now().date()

    @property
    def today(self) -> date:
        return self._today()

    @property
    def screen(self) -> Screen:
        return self._screen

    @screen.setter
    def screen(self, screen: Screen) -> None:
        self._screen = screen
        if screen not in _UNCOUNTED:
            self.tally.screen(screen.value)

    @property
    def offered_tiles(self) -> list[Tile]:
        """The configured tiles this unit can offer now (content tiles need their content)."""
        return [t for t in self.tiles if t.kinds or self.offers(t.name)]

    # -- state that a new patient starts afresh ----------------------------------

    def wipe(self) -> None:
        """Forget everything about the patient (and their display choices)."""
        self.generation += 1  # screens clear their widgets too
        if self._waiting is not None:  # settings that arrived during the visit
            waiting, self._waiting = self._waiting, None
            self._configure(waiting)
        self._take_waiting_content()
        self.tally = UsageTally()
        self.screen = Screen.ATTRACT
        self.language = self.default_language
        self.text_scale = 0
        self.high_contrast = False
        self.session: str | None = None
        self.nhs_number = DigitEntry(10)
        self.day, self.month, self.year = DigitEntry(2), DigitEntry(2), DigitEntry(4)
        self.field = IdentifyField.NHS_NUMBER
        self.identify_error: identity.IdentityError | None = None
        self.after_identify: Screen | None = None  # where identifying leads (send, a form)
        self.patient: dict[str, str] | None = None
        self.readings: list[Reading] = []
        self.flow: MeasurementFlow | None = None
        self.background: FamilyBackground | None = None
        self.results: list[ResultItem] = []
        self.results_version += 1
        self.urgent_notice = ""
        self.notice = ""
        self.farewell = ""
        self._clear_content_visit()
        self.idle.touch()
        self.changed()

    # -- display choices -----------------------------------------------------------

    def choose_language(self, code: str) -> None:
        if code in self.languages:
            if code != self.language:
                self.tally.language_changes += 1
            self.language = code
            self.touch()

    @property
    def rtl(self) -> bool:
        language = LANGUAGES.get(self.language)
        return bool(language and language.rtl)

    def bigger_text(self) -> None:
        self.text_scale = (self.text_scale + 1) % TEXT_SCALE_STEPS
        self.touch()

    def toggle_contrast(self) -> None:
        self.high_contrast = not self.high_contrast
        self.touch()

    # -- opening hours -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.hours.is_open(self._now())

    @property
    def next_opening(self) -> Opening | None:
        return self.hours.next_opening(self._now())

    # -- idle ----------------------------------------------------------------------------

    def touch(self) -> None:
        self.idle.touch()
        self._last_activity = self._clock()
        self.changed()

    # -- presence, help and scanned codes: what the unit's own parts say ----------------

    def presence(self) -> None:
        """Someone is in front of the unit (PIR): the attract screen wakes."""
        resting = not self.awake
        self._presence_seen = True
        self._last_activity = self._clock()
        if resting:
            self.changed()

    @property
    def awake(self) -> bool:
        """False while the attract screen rests: nobody near for ``rest_after_s``."""
        return (
            not self._presence_seen
            or self.screen != Screen.ATTRACT
            or self._clock() - self._last_activity < self.rest_after_s
        )

    def help_coming(self) -> None:
        """The help button raised a staff alert: say so, wherever the patient is."""
        self.notice = HELP_COMING
        self._help_at = self._clock()
        self.changed()

    def expire_notices(self) -> None:
        """Called every tick: the help notice goes after :data:`HELP_NOTICE_S`, even with
        nobody at the screen to wipe it."""
        if self.notice == HELP_COMING and self._clock() - self._help_at >= HELP_NOTICE_S:
            self.notice = ""
            self.changed()

    def scanned(self, text: str) -> None:
        """A code was scanned. On the identify screen a valid NHS number fills that field;
        anything else is ignored (and never shown: it may be someone else's document)."""
        if self.screen != Screen.IDENTIFY:
            return
        digits = "".join(ch for ch in text if ch not in " -")
        if not identity.is_valid_nhs_number(digits):
            return
        self.nhs_number.clear()
        for digit in digits:
            self.nhs_number.press(digit)
        self.identify_error = None
        self.field = IdentifyField.DAY
        self.touch()

    def idle_state(self) -> IdleState:
        """ACTIVE, WARNING (show the countdown) or EXPIRED (the caller ends the session)."""
        if self.screen == Screen.ATTRACT:
            return IdleState.ACTIVE
        return self.idle.state()

    # -- start and identify --------------------------------------------------------------

    async def start(self) -> None:
        """The patient touched the attract screen."""
        if not self.is_open:
            return
        self.touch()
        result = await self._call("session.start")
        if result is None:
            return
        self.session = result["session"]
        self.screen = Screen.IDENTIFY
        self.changed()

    def select_field(self, field: IdentifyField) -> None:
        self.field = field
        self.touch()

    def _entry(self) -> DigitEntry:
        return {
            IdentifyField.NHS_NUMBER: self.nhs_number,
            IdentifyField.DAY: self.day,
            IdentifyField.MONTH: self.month,
            IdentifyField.YEAR: self.year,
        }[self.field]

    def press_key(self, key: str) -> None:
        entry = self._entry()
        entry.press(key)
        self.identify_error = None
        order = list(IdentifyField)
        if entry.full and self.field != order[-1]:
            self.field = order[order.index(self.field) + 1]
        self.touch()

    def backspace(self) -> None:
        self._entry().backspace()
        self.touch()

    def submit_identity(self) -> bool:
        """Check the NHS number and date of birth; on success go on, else say what is wrong."""
        try:
            nhs = identity.nhs_number_check(self.nhs_number.digits)
        except identity.NhsNumberError as exc:
            self.identify_error = exc
            self.field = IdentifyField.NHS_NUMBER
            self.touch()
            return False
        try:
            born = identity.parse_birth_date(
                self.day.digits, self.month.digits, self.year.digits, today=self._now().date()
            )
        except identity.BirthDateError as exc:
            self.identify_error = exc
            self.field = IdentifyField.DAY
            self.touch()
            return False
        self.patient = {"nhs_number": nhs, "birth_date": born.isoformat()}
        self.identify_error = None
        self.screen = self.after_identify or Screen.HOME
        self.after_identify = None
        self.touch()
        return True

    def skip_identify(self) -> None:
        self.nhs_number.clear()
        self.day.clear()
        self.month.clear()
        self.year.clear()
        self.identify_error = None
        if not self.form_needs_details_skipped():
            self.screen = self.after_identify or Screen.HOME
        self.after_identify = None
        self.touch()

    # -- measuring -----------------------------------------------------------------------

    def choose_tile(self, name: str) -> None:
        tile = next((t for t in self.offered_tiles if t.name == name), None)
        if tile is None:
            return
        if not tile.kinds:
            self.open_content_tile(name)
            return
        self.tally.tile(name)
        self.flow = MeasurementFlow(tile)
        self.screen = Screen.MEASURE
        self.touch()

    async def start_measuring(self) -> None:
        flow = self.flow
        if flow is None or self.session is None:
            return
        flow.state = MeasureState.STARTING
        flow.got.clear()
        self.touch()
        for attempt in range(2):
            try:
                await self.agent.call(
                    "measure.start", session=self.session, kinds=list(flow.tile.kinds)
                )
            except api.LocalApiError as exc:
                if exc.code == "no_session" and attempt == 0:
                    await self._session_lost()  # the agent restarted: carry on in a new one
                    continue
                flow.state = (
                    MeasureState.NO_DEVICE if exc.code == "no_device" else MeasureState.ERROR
                )
            except Exception:  # AgentUnavailable: the UI must carry on and say so
                flow.state = MeasureState.UNAVAILABLE
            break
        self.changed()

    def on_event(self, event: api.Event) -> Reading | None:
        """An event from the agent; returns the reading if it completes the measurement."""
        flow, data = self.flow, event.data
        parts: dict[str, Callable[[], None]] = {
            "presence": self.presence,
            "help_requested": self.help_coming,
            "scanned": partial(self.scanned, str(data.get("text", ""))),
        }
        unit_part = parts.get(event.event)
        if unit_part is not None:
            unit_part()
            return None
        if flow is None or (data.get("session", self.session) != self.session):
            return None
        if event.event == "peripheral":
            flow.on_peripheral(data)
        elif event.event == "refused":
            flow.on_refused(data)
        elif event.event == "reading":
            reading = _reading(data)
            if reading is None or flow.state == MeasureState.DONE:
                return None  # a late reading after the measurement ended stays anonymous
            flow.on_reading(reading)
            self.readings = [r for r in self.readings if r.kind != reading.kind] + [reading]
            if flow.complete:
                return reading  # measurement_done() redraws once, with the results
            self.changed()
            return None
        self.changed()
        return None

    async def measurement_done(self) -> None:
        """Every kind of the tile is read: band the values, raise an alert if urgent, show them."""
        flow = self.flow
        if flow is None or not flow.complete:
            return
        if bmi_value(flow.got.values()) is not None and self.background is None:
            self.screen = Screen.BACKGROUND
            self.touch()
        else:
            await self._show_results(flow)
        await self._stop_measuring()  # after the screen: the patient waits for nothing else

    async def choose_background(self, background: FamilyBackground) -> None:
        self.background = background
        if self.flow is not None:
            await self._show_results(self.flow)

    async def _show_results(self, flow: MeasurementFlow) -> None:
        items: list[ResultItem] = []
        for reading in flow.got.values():
            items += items_for(reading)
        bmi = bmi_value(flow.got.values())
        if bmi is not None:
            items.append(bmi_item(bmi, self.background or FamilyBackground.NOT_SAID))
        self.results = items
        self.results_version += 1
        self.urgent_notice = ""
        worst = banding.worst([i.band for i in items if i.band is not None])
        if worst is not None and worst.urgent:
            self.urgent_notice = await self._raise_alert(items)
        self.screen = Screen.RESULT
        self.touch()

    async def _raise_alert(self, items: list[ResultItem]) -> str:
        """Tell the practice at once; if that fails, the patient is told to go themselves."""
        urgent = next(i for i in items if i.band is not None and i.band.urgent)
        try:
            await self.agent.call(
                "alert.raise",
                session=self.session,
                reason="urgent_result",
                measure=urgent.measure,
                level=urgent.band.level.value if urgent.band else "urgent",
                reading=urgent.reading_id,
            )
        except Exception:  # LocalApiError or AgentUnavailable
            log.warning("urgent alert could not be raised; the patient is sent to reception")
            return URGENT_ALERT_FAILED
        return URGENT_ALERT_SENT

    async def _stop_measuring(self) -> None:
        if self.session is not None:
            await self._call("measure.stop", session=self.session)

    async def leave_measurement(self) -> None:
        """Back to the tiles from a measurement (or its result)."""
        if self.flow is not None and self.flow.state != MeasureState.DONE:
            await self._stop_measuring()
        self.flow = None
        self.screen = Screen.HOME
        self.touch()

    # -- send and finish -----------------------------------------------------------------

    async def finish_visit(self) -> None:
        """The patient has done what they came for: ask about sending (if anything was read)."""
        if self.flow is not None and self.flow.state != MeasureState.DONE:
            await self._stop_measuring()
        self.flow = None
        if self.readings:
            self.screen = Screen.SEND
            self.touch()
        elif any(screen in _CONTENT_SCREENS for screen in self.tally.screens):
            await self.end("finished", farewell=GOODBYE)
        else:
            await self.end("finished", farewell=NOTHING_TAKEN)

    async def send(self, agree: bool) -> None:
        if not agree:
            await self.end("finished", farewell=NOT_SENT)
            return
        if self.patient is None:
            self.after_identify = Screen.SEND
            self.screen = Screen.IDENTIFY
            self.touch()
            return
        derived = []
        bmi = bmi_value(self.readings)
        if bmi is not None:
            derived.append(
                {"kind": "bmi", "components": [{"code": "bmi", "value": bmi, "unit": "kg/m2"}]}
            )
        context = {"family_background": (self.background or FamilyBackground.NOT_SAID).value}
        result = await self._call(
            "session.send",
            session=self.session,
            patient=self.patient,
            readings=[r.id for r in self.readings],
            derived=derived,
            context=context,
        )
        if result is not None:
            await self.end("finished", farewell=SENT)

    async def end(self, reason: str = "finished", farewell: str | None = None) -> None:
        """End the session (finished, idle, cancelled): tell the agent, then forget everything.

        With a ``farewell`` the thank-you screen shows it; it holds nothing about the patient.
        """
        session, language = self.session, self.language
        flow = self.form_flow
        self.tally.abandon_open_forms({flow.form.id: flow.page.id} if flow is not None else {})
        usage = self.tally.to_json(text_size=self.text_scale, high_contrast=self.high_contrast)
        self.wipe()
        if farewell is not None:
            self.farewell = farewell
            self.screen = Screen.FINISHED
            self.changed()
        if session is not None:
            try:
                await self.agent.call(
                    "session.end", session=session, reason=reason, language=language, usage=usage
                )
            except Exception:  # the agent forgets it anyway when the next session starts
                log.info("session end not acknowledged by the agent")

    async def _session_lost(self) -> None:
        """The agent no longer knows our session (it restarted): start a new one quietly.

        Readings of the old session stay in the outbox, anonymous: the new session cannot
        name them, so they are not offered for the record.
        """
        result = await self._call("session.start")
        self.session = None if result is None else result["session"]
        self.readings = []

    async def _call(self, op: str, **args: Any) -> dict[str, Any] | None:
        try:
            return await self.agent.call(op, **args)
        except api.LocalApiError as exc:
            self.notice = (
                OUTBOX_FULL
                if exc.code in ("outbox_full", "storage_error")
                else (N_("Something went wrong. Please try again, or ask at reception."))
            )
        except Exception:
            self.notice = N_("The unit is reconnecting. Please wait a moment, then try again.")
        self.changed()
        return None


def _reading(data: dict[str, Any]) -> Reading | None:
    components = data.get("components")
    if not isinstance(components, list) or not isinstance(data.get("id"), str):
        return None
    values = {
        c["code"]: float(c["value"])
        for c in components
        if isinstance(c, dict)
        and isinstance(c.get("code"), str)
        and isinstance(c.get("value"), int | float)
    }
    received = data.get("received_monotonic")
    return Reading(
        data["id"], str(data.get("kind")), values, received if isinstance(received, float) else None
    )
