"""The local API between the patient UI and its agent (DESIGN.md, "Processes on a device").

A Unix domain socket owned by the agent; newline-delimited JSON, one UTF-8
object per line, at most :data:`MAX_LINE` bytes. Three kinds of frame:

- request  ``{"id": 7, "op": "measure.start", "args": {...}}`` (UI → agent)
- response ``{"id": 7, "ok": true, "result": {...}}`` or
  ``{"id": 7, "ok": false, "error": {"code": "no_device", "message": "..."}}``
- event    ``{"event": "reading", "data": {...}}`` (agent → UI, unasked)

A connection that has said ``hello`` receives the event stream. Events carry a
patient's measurements to the screen, so the socket is the agent's (mode 0660)
and nothing on it is logged.

Operations (``args`` → ``result``):

``hello`` → device, site, role, versions, the ``ui`` settings, peripherals,
link and outbox state, and the session in progress (if any).
``status`` → what the staff screen shows (no patient data).
``session.start`` → ``{"session": id}``; one session at a time, a new one ends the old.
``measure.start {session, kinds}`` → the peripherals that measure those kinds, asked to
measure where they can be asked; readings of those kinds are tagged with the session
and sent as ``reading`` events once they are committed.
``measure.stop {session}`` → stops tagging.
``alert.raise {session, reason, measure, level, reading}`` → ``{"alert": id}`` once the
alert is committed to the outbox (stream ``alerts``); for ``reason`` ``form_action``
the args are ``{session, reason, form, action}``: an action of a served form that alerts.
``session.send {session, patient, readings, derived, context}`` → ``{"submission": id}``:
the patient's consent to file these readings in their record, committed (stream
``submissions``, sealed).
``form.submit {session, form, version, language, answers, patient}`` → ``{"submission": id,
"scores": {...}}``: a completed form, checked by the agent against the form it serves and
committed (stream ``submissions``, sealed, kind = the form's purpose); ``patient`` only if the
patient identified and the form allows it.
``page.print {page, language}`` → ``{"printed": true, "paper": state}``: a served
information page on the unit's receipt printer (``no_device`` if it has none or it fails).
``session.end {session, reason, language, usage}`` → ``{}``; the agent forgets the session
(``usage``: the UI's tally of the visit, :mod:`healthhub.protocol.usage`).
``staff.unlock {pin}`` → ``{}`` or error ``wrong_pin`` / ``locked_out``.

Events: ``peripheral`` (one peripheral's state), ``reading`` (a committed reading of the
session), ``refused`` (a device gave a value that cannot be real), ``link`` (broker link
state), ``outbox`` (depth and bound), ``session_ended``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from healthhub.protocol import canonical
from healthhub.protocol.errors import HealthHubError, MalformedMessage
from healthhub.protocol.submissions import check_patient

API_VERSION: Final = 1
#: The longest frame either side accepts, newline included; longer closes the connection.
MAX_LINE: Final = 64 * 1024
#: Unix socket paths are limited by ``sockaddr_un.sun_path`` (108 bytes on Linux, with NUL).
MAX_SOCKET_PATH: Final = 107

OPS: Final = frozenset(
    {
        "hello",
        "status",
        "session.start",
        "measure.start",
        "measure.stop",
        "alert.raise",
        "session.send",
        "form.submit",
        "page.print",
        "session.end",
        "staff.unlock",
        "screenshot.done",
    }
)
#: ``presence``: someone is in front of the unit (a PIR); ``scanned``: a barcode/QR code was read
#: (its ``text`` may identify a patient: only the UI gets it); ``help_requested``: the help
#: button raised a staff alert (``alert`` its id), so the screen can say help is coming.
#: ``config``: a pushed configuration changed the UI settings (``ui``, as in ``hello``);
#: ``identify``: IT staff asked the unit to show itself (``device``, ``seconds``);
#: ``screenshot``: IT staff asked for a picture of the screen (``request``, ``max_bytes``): the
#: UI answers with ``screenshot.done`` (``request`` and ``png_base64``, or ``refused``).
#: ``content``: the pushed content served changed (``content_dir``, ``digest``): the UI reloads
#: its forms, pages, services and notices once the patient is forgotten.
EVENTS: Final = frozenset(
    {
        "peripheral",
        "reading",
        "refused",
        "link",
        "outbox",
        "session_ended",
        "presence",
        "scanned",
        "help_requested",
        "config",
        "identify",
        "screenshot",
        "content",
    }
)

#: Error codes a response may carry; the UI chooses what to tell the patient from the code.
ERROR_CODES: Final = frozenset(
    {
        "bad_request",  # malformed frame or arguments
        "unknown_op",
        "no_session",  # the session named is not the one in progress (ended, or replaced)
        "no_device",  # no peripheral measures that kind on this unit
        "no_patient",  # sending to a record needs the patient's details
        "no_form",  # the form is not (or no longer) served by this unit
        "bad_answer",  # an answer the form refuses (the message names the question)
        "outbox_full",  # the durable queue is at its bound: send the patient to reception
        "storage_error",  # the outbox could not commit
        "wrong_pin",
        "locked_out",
        "internal",
    }
)

#: Why an alert is raised; the practice side routes on it.
ALERT_REASONS: Final = frozenset({"urgent_result", "help_requested", "form_action"})
#: Why a session ended.
END_REASONS: Final = frozenset({"finished", "idle", "cancelled", "replaced"})


class LocalApiError(HealthHubError):
    """A request the agent refused, with a code from :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            code, message = "internal", f"unknown error code {code!r}: {message}"
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Request:
    id: int
    op: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    id: int
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: LocalApiError | None = None


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any] = field(default_factory=dict)


Frame = Request | Response | Event


def _line(value: dict[str, Any]) -> bytes:
    line = canonical.dumps(value) + b"\n"
    if len(line) > MAX_LINE:
        raise MalformedMessage(f"local API frame of {len(line)} bytes is over {MAX_LINE}")
    return line


def encode_request(request: Request) -> bytes:
    return _line({"id": request.id, "op": request.op, "args": request.args})


def encode_response(request_id: int, result: dict[str, Any]) -> bytes:
    return _line({"id": request_id, "ok": True, "result": result})


def encode_error(request_id: int | None, error: LocalApiError) -> bytes:
    return _line(
        {"id": request_id, "ok": False, "error": {"code": error.code, "message": error.message}}
    )


def encode_event(event: Event) -> bytes:
    return _line({"event": event.event, "data": event.data})


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedMessage(f"{what} must be an object")
    return value


def _request_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise MalformedMessage("id must be a whole number from 0 to 2^53")
    return value


def decode(line: bytes) -> Frame:
    """One frame from one line (without or with its newline); :class:`MalformedMessage` if bad."""
    if len(line) > MAX_LINE:
        raise MalformedMessage(f"local API frame of {len(line)} bytes is over {MAX_LINE}")
    value = canonical.loads_object(line, what="local API frame")
    if "op" in value:
        op = value["op"]
        if not isinstance(op, str) or op not in OPS:
            raise MalformedMessage(f"unknown operation {op!r}")
        return Request(_request_id(value.get("id")), op, _object(value.get("args", {}), "args"))
    if "event" in value:
        name = value["event"]
        if not isinstance(name, str) or name not in EVENTS:
            raise MalformedMessage(f"unknown event {name!r}")
        return Event(name, _object(value.get("data", {}), "event data"))
    if "ok" in value:
        request_id = _request_id(value.get("id"))
        if value["ok"] is True:
            return Response(request_id, True, _object(value.get("result", {}), "result"))
        error = _object(value.get("error"), "error")
        code, message = error.get("code"), error.get("message")
        if not isinstance(code, str) or not isinstance(message, str):
            raise MalformedMessage("error must have a string code and message")
        return Response(request_id, False, error=LocalApiError(code, message))
    raise MalformedMessage("frame is neither a request, a response nor an event")


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address ``bind``/``connect`` accept for ``path``, however deep its folder.

    ``sun_path`` holds 107 bytes; a longer path is reached through an ``O_PATH`` handle
    on its folder (``/proc/self/fd/N/agent.sock``), valid while the context is open.
    """
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


# -- argument checks shared by both ends ---------------------------------------


def text_arg(args: dict[str, Any], name: str, *, choices: frozenset[str] | None = None) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise LocalApiError("bad_request", f"{name} must be a non-empty string")
    if choices is not None and value not in choices:
        raise LocalApiError("bad_request", f"{name} must be one of {', '.join(sorted(choices))}")
    return value


def list_arg(args: dict[str, Any], name: str, *, max_items: int = 64) -> list[Any]:
    value = args.get(name, [])
    if not isinstance(value, list) or len(value) > max_items:
        raise LocalApiError("bad_request", f"{name} must be a list of at most {max_items}")
    return value


def patient_arg(value: object) -> dict[str, str]:
    """The patient's identifiers as the UI checked them: NHS number and date of birth."""
    if not isinstance(value, dict) or set(value) != {"nhs_number", "birth_date"}:
        raise LocalApiError("no_patient", "patient must give nhs_number and birth_date")
    try:
        return check_patient(value)
    except MalformedMessage as exc:
        raise LocalApiError("bad_request", str(exc)) from None
