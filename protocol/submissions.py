"""What a ``submissions`` body holds, checked the same way by the device and the practice.

Two families travel on the sealed ``submissions`` stream:

- ``readings_to_record``: the patient's consent to file readings of their session (see
  ``agent/sessions.py``);
- a completed **form**, whose envelope ``kind`` is the form's purpose
  (:data:`FORM_KINDS`)::

      {"form": "phq-9", "version": 1, "purpose": "questionnaire", "language": "en",
       "answers": {"q1": "several_days", ...}, "scores": {"total": 12},
       "bands": {"total": "Moderate depression"}, "actions": ["item-9-crisis"],
       "session": "<uuid7>", "patient": {"nhs_number": ..., "birth_date": ...}}

``patient`` is there only if the patient identified and the form allows it. The device
checks the answers against the form it served and computes the scores itself; the practice
checks the shape again here before filing (a body that passes the seal but not this is
refused as malformed, never filed half-understood). Change-of-details submissions are
requests for staff to check, never applied to the record blindly (issue 8 files them as
FHIR Tasks).
"""

from __future__ import annotations

import re
from typing import Any, Final

from healthhub.protocol.errors import MalformedMessage

#: Envelope kinds of form submissions: the form's purpose.
FORM_KINDS: Final = frozenset(
    {"questionnaire", "change_of_details", "consultation_request", "support_request"}
)
READINGS_TO_RECORD: Final = "readings_to_record"
MAX_ANSWERS: Final = 300
MAX_ANSWER_CHARS: Final = 2000

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
_NHS_NUMBER = re.compile(r"^[0-9]{10}$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_FORM_FIELDS: Final = frozenset(
    {"form", "version", "purpose", "language", "answers", "scores", "bands", "actions",
     "session", "patient"}
)  # fmt: skip


def check_patient(value: Any) -> dict[str, str]:
    """A patient's identifiers as a submission carries them: NHS number and date of birth."""
    if not isinstance(value, dict) or set(value) != {"nhs_number", "birth_date"}:
        raise MalformedMessage("patient must hold exactly nhs_number and birth_date")
    nhs, born = value["nhs_number"], value["birth_date"]
    if not isinstance(nhs, str) or not _NHS_NUMBER.match(nhs):
        raise MalformedMessage("patient nhs_number must be 10 digits")
    if not isinstance(born, str) or not _ISO_DATE.match(born):
        raise MalformedMessage("patient birth_date must be YYYY-MM-DD")
    return {"nhs_number": nhs, "birth_date": born}


def _answer_ok(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_ANSWER_CHARS
    if isinstance(value, list):
        return len(value) <= 32 and all(isinstance(v, str) and _ID.match(v) for v in value)
    return False


def check_form_submission(kind: str, body: dict[str, Any]) -> None:
    """Raise :class:`MalformedMessage` unless ``body`` is a well-formed form submission."""
    if kind not in FORM_KINDS:
        raise MalformedMessage(f"unknown submission kind {kind!r}")
    unknown = set(body) - _FORM_FIELDS
    missing = {"form", "version", "purpose", "answers", "scores"} - set(body)
    if unknown or missing:
        raise MalformedMessage(
            f"form submission has unknown {sorted(unknown)} or misses {sorted(missing)}"
        )
    if not isinstance(body["form"], str) or not _ID.match(body["form"]):
        raise MalformedMessage("form must be a form id")
    version = body["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MalformedMessage("version must be a positive integer")
    if body["purpose"] != kind:
        raise MalformedMessage(f"purpose {body['purpose']!r} is not the envelope kind {kind!r}")
    answers, scores = body["answers"], body["scores"]
    if not isinstance(answers, dict) or len(answers) > MAX_ANSWERS:
        raise MalformedMessage(f"answers must be an object of at most {MAX_ANSWERS}")
    for question, value in answers.items():
        if not _ID.match(question) or not _answer_ok(value):
            raise MalformedMessage(f"answer to {question[:64]!r} is not a form answer")
    if not isinstance(scores, dict) or not all(
        _ID.match(name) and isinstance(value, int) and not isinstance(value, bool)
        for name, value in scores.items()
    ):
        raise MalformedMessage("scores must map score ids to whole numbers")
    if "patient" in body:
        check_patient(body["patient"])
    actions = body.get("actions", [])
    if not isinstance(actions, list) or not all(
        isinstance(a, str) and _ID.match(a) for a in actions
    ):
        raise MalformedMessage("actions must be a list of action ids")
