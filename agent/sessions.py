"""A patient's session at the unit, as the agent keeps it: what the UI may ask and what it gets.

The agent holds at most one session (one patient at a unit) and only in memory.
A reading is committed to the outbox the moment the device gives it, whether or
not the patient later agrees to send it (rule: durable before the patient is
told). It is tagged with the session and carries no identity. What the patient
decides afterwards is a message of its own:

- ``alerts`` (sealed): an urgent result, raised while the patient is still there;
- ``submissions`` kind ``readings_to_record`` (sealed): the patient's NHS number and
  date of birth with the ids of the readings they agreed to file in their record;
- ``submissions`` of a form's purpose (sealed): a completed form, checked against the form
  served (``agent/form_intake.py``);
- ``usage`` kind ``session`` (clear): how the unit was used, with nothing about the
  person (language, kinds measured, whether details were given and readings sent, and the
  UI's tally of screens, forms, pages and accessibility used: ``protocol/usage.py``).

Readings the patient did not send stay anonymous: the practice counts them and
never files them (docs/decisions.md, "Readings first, consent after").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from healthhub.agent.form_intake import action_alert, submission
from healthhub.agent.outbox import NewMessage, OutboxError, OutboxFull
from healthhub.agent.staff_pin import PinGuard
from healthhub.protocol import local_api as api
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.errors import InvalidMeasurement, MalformedMessage
from healthhub.protocol.forms import Form
from healthhub.protocol.ids import uuid7
from healthhub.protocol.measurements import KINDS, parse_measurement
from healthhub.protocol.usage import check_usage

log = logging.getLogger(__name__)

Take = Callable[[NewMessage], Awaitable[Envelope]]
Request = Callable[[set[str]], list[str]]
Publish = Callable[[api.Event], None]
Report = Callable[[], Awaitable[dict[str, Any]]]
Forms = Callable[[str], Form]

LEVELS = frozenset({"raised", "high", "urgent"})
MAX_READINGS_PER_SESSION = 64
#: One help alert per this many seconds, however often the button is pressed.
HELP_HOLD_OFF_S = 30.0


@dataclass
class Session:
    id: str
    started: float
    kinds: set[str] = field(default_factory=set)
    readings: dict[str, str] = field(default_factory=dict)  # envelope id -> kind
    alerts: int = 0
    sent: bool = False
    forms: int = 0  # forms submitted
    # the patient gave their details for something sent (readings to record, a form):
    # the reports' identified/anonymous split, never who
    identified: bool = False


class SessionDesk:
    """Answers the UI's requests (the handler of the agent's local API server)."""

    def __init__(
        self,
        *,
        take: Take,
        request: Request,
        publish: Publish,
        hello: Report,
        status: Report,
        pins: PinGuard,
        route: Callable[[str], dict[str, Any]] | None = None,
        forms: Forms | None = None,
    ) -> None:
        self._take = take
        # Where an alert of a kind goes (the ``alerts`` settings), read at each alert so a
        # pushed layer takes effect at once.
        self._route = route or (lambda kind: {"notify": ["reception"]})
        self._request = request
        self._forms = forms or _no_forms
        self._publish = publish
        self._hello = hello
        self._status = status
        self._pins = pins
        self.session: Session | None = None
        self.counters = {"sessions": 0, "alerts": 0, "sent": 0, "forms": 0}
        self._last_help: float | None = None

    def set_staff_pin(self, stored: str | None) -> None:
        """A new staff PIN hash from a config layer; a lock-out in progress is not lifted."""
        self._pins.replace(stored)

    async def handle(self, request: api.Request) -> dict[str, Any]:
        args = request.args
        if request.op == "hello":
            return await self._hello()
        if request.op == "status":
            return await self._status()
        if request.op == "staff.unlock":
            self._pins.check(args.get("pin"))
            return {}
        if request.op == "session.start":
            return await self._start()
        operations = {
            "measure.start": self._measure,
            "measure.stop": self._stop_measuring,
            "alert.raise": self._alert,
            "session.send": self._send,
            "form.submit": self._submit_form,
            "session.end": self._end,
        }
        operation = operations.get(request.op)
        if operation is None:
            raise api.LocalApiError("unknown_op", request.op)
        return await operation(self._current(args), args)

    # -- readings, as the agent takes them -----------------------------------

    def tag(self, kind: str) -> str | None:
        """The session a reading of ``kind`` belongs to, if a patient is measuring it now."""
        session = self.session
        if session is None or kind not in session.kinds:
            return None
        if len(session.readings) >= MAX_READINGS_PER_SESSION:
            return None
        return session.id

    def taken(self, session_id: str, envelope: Envelope, event: dict[str, Any]) -> None:
        """A tagged reading is committed: remember it and show it to the UI."""
        session = self.session
        if session is None or session.id != session_id:
            return  # the patient left while the device was measuring: it stays anonymous
        session.readings[envelope.id] = envelope.kind
        self._publish(api.Event("reading", {"session": session_id, "id": envelope.id, **event}))

    async def help_requested(self, source: str) -> str | None:
        """The help button: a staff alert, with or without a patient at the screen.

        Presses closer than :data:`HELP_HOLD_OFF_S` apart raise one alert, whatever
        drivers do; the UI is told so it can say that help is on its way.
        """
        now = time.monotonic()
        if self._last_help is not None and now - self._last_help < HELP_HOLD_OFF_S:
            return None
        self._last_help = now
        session = self.session
        body: dict[str, Any] = {
            "reason": "help_requested",
            "source": source,
            "route": self._route("help_requested"),
        }
        if session is not None:
            body["session"] = session.id
            session.alerts += 1
        envelope = await self._take(
            NewMessage("alerts", "help_requested", body, taken_at=datetime.now(UTC))
        )
        self.counters["alerts"] += 1
        log.warning("alert %s raised (help_requested by %s)", envelope.id, source)
        self._publish(api.Event("help_requested", {"alert": envelope.id, "source": source}))
        return envelope.id

    # -- operations ----------------------------------------------------------

    def _current(self, args: dict[str, Any]) -> Session:
        session_id = args.get("session")
        if self.session is None or session_id != self.session.id:
            raise api.LocalApiError("no_session", "that session is not the one in progress")
        return self.session

    async def _start(self) -> dict[str, Any]:
        if self.session is not None:
            await self._finish(self.session, "replaced", language=None)
        self.session = Session(str(uuid7()), time.monotonic())
        self.counters["sessions"] += 1
        return {"session": self.session.id}

    async def _stop_measuring(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        session.kinds.clear()
        return {}

    async def _measure(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        kinds = api.list_arg(args, "kinds", max_items=len(KINDS))
        if not kinds or not all(isinstance(k, str) and k in KINDS for k in kinds):
            raise api.LocalApiError("bad_request", "kinds must name measurement kinds")
        names = self._request(set(kinds))
        if not names:
            raise api.LocalApiError("no_device", f"no peripheral measures {', '.join(kinds)}")
        session.kinds = set(kinds)
        return {"peripherals": names}

    async def _commit(self, message: NewMessage) -> Envelope:
        try:
            return await self._take(message)
        except OutboxFull as exc:
            raise api.LocalApiError("outbox_full", str(exc)) from None
        except OutboxError as exc:
            raise api.LocalApiError("storage_error", str(exc)) from None

    async def _alert(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        reason = api.text_arg(args, "reason", choices=api.ALERT_REASONS)
        body: dict[str, Any] = {
            "reason": reason,
            "session": session.id,
            "route": self._route(reason),
        }
        if reason == "form_action":
            body |= action_alert(self._forms(api.text_arg(args, "form")), args)
        if reason == "urgent_result":
            reading = api.text_arg(args, "reading")
            if reading not in session.readings:
                raise api.LocalApiError("bad_request", "reading is not one of this session's")
            body["reading"] = reading
            body["measure"] = api.text_arg(args, "measure")
            body["level"] = api.text_arg(args, "level", choices=LEVELS)
        envelope = await self._commit(
            NewMessage("alerts", reason, body, taken_at=datetime.now(UTC))
        )
        session.alerts += 1
        self.counters["alerts"] += 1
        log.warning("alert %s raised (%s)", envelope.id, reason)  # no patient data
        return {"alert": envelope.id}

    async def _send(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        patient = api.patient_arg(args.get("patient"))
        readings = api.list_arg(args, "readings", max_items=MAX_READINGS_PER_SESSION)
        if not readings or not all(r in session.readings for r in readings):
            raise api.LocalApiError("bad_request", "readings must be this session's readings")
        derived = []
        for item in api.list_arg(args, "derived", max_items=8):
            if not isinstance(item, dict):
                raise api.LocalApiError("bad_request", "derived items must be measurements")
            try:
                derived.append(
                    parse_measurement(item.get("kind"), item.get("components")).to_json()
                )
            except InvalidMeasurement as exc:
                raise api.LocalApiError("bad_request", f"derived: {exc}") from None
        context = args.get("context", {})
        if not isinstance(context, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in context.items()
        ):
            raise api.LocalApiError("bad_request", "context must map names to texts")
        body = {
            "session": session.id,
            "patient": patient,
            "readings": list(dict.fromkeys(readings)),
            "derived": derived,
            "context": context,
            "consent": "file_in_gp_record",
        }
        envelope = await self._commit(
            NewMessage("submissions", "readings_to_record", body, taken_at=datetime.now(UTC))
        )
        session.sent = session.identified = True
        self.counters["sent"] += 1
        return {"submission": envelope.id}

    async def _submit_form(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        form = self._forms(api.text_arg(args, "form"))
        kind, body = submission(form, args, session=session.id, today=datetime.now().date())
        envelope = await self._commit(
            NewMessage("submissions", kind, body, taken_at=datetime.now(UTC))
        )
        session.forms += 1
        session.identified |= "patient" in body
        self.counters["forms"] += 1
        log.info("form %s v%d submitted as %s", form.id, form.version, envelope.id)
        return {"submission": envelope.id, "scores": body["scores"], "bands": body["bands"]}

    async def _end(self, session: Session, args: dict[str, Any]) -> dict[str, Any]:
        reason = api.text_arg(args, "reason", choices=api.END_REASONS)
        language = args.get("language")
        try:
            tally = check_usage(args.get("usage", {}))
        except MalformedMessage as exc:
            log.warning("the UI's usage tally was refused: %s", exc)  # counted without it
            tally = {}
        await self._finish(session, reason, language if isinstance(language, str) else None, tally)
        return {}

    async def _finish(
        self,
        session: Session,
        reason: str,
        language: str | None,
        tally: dict[str, Any] | None = None,
    ) -> None:
        """Forget the session; count its use (nothing about the person) in ``usage``."""
        self.session = None
        usage = {
            **(tally or {}),
            "reason": reason,
            "language": (language or "")[:16],
            "kinds": sorted(set(session.readings.values())),
            "readings": len(session.readings),
            "alerts": session.alerts,
            "sent_to_record": session.sent,
            "forms_submitted": session.forms,
            "identified": session.identified,
            "minutes": round((time.monotonic() - session.started) / 60, 1),
        }
        self._publish(api.Event("session_ended", {"session": session.id, "reason": reason}))
        try:
            await self._take(NewMessage("usage", "session", usage, taken_at=datetime.now(UTC)))
        except OutboxError as exc:  # a usage count is not clinical: losing one is acceptable
            log.warning("session usage not recorded: %s", exc)


def _no_forms(form_id: str) -> Form:
    raise api.LocalApiError("no_form", f"this unit serves no forms ({form_id})")
