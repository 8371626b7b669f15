"""Completed forms from the patient UI, checked against the form this unit serves.

The UI renders a form and sends the answers; the agent does not take its word for them.
It loads the same form from the pushed content (:class:`ServedForms`), checks the version is
the one served, checks every answer (:meth:`~healthhub.protocol.forms.Form.check_submission`:
no answer to a hidden question, every required one given, values in range and in format) and
computes the scores itself. Only then is the submission body made, to be committed sealed.
A form action that alerts staff (PHQ-9 item 9) is checked the same way: the action must be
one of the served form's and must alert.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from healthhub.protocol import local_api as api
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.forms import AnswerInvalid, Form, load_form
from healthhub.protocol.texts import DocumentInvalid, identifier

log = logging.getLogger(__name__)

#: Parsed forms kept in memory (a unit serves a handful).
MAX_CACHED_FORMS = 32


class ServedForms:
    """The forms under ``{content}/forms/``, parsed once per file version."""

    def __init__(self, content_dir: Callable[[], Path]) -> None:
        self._content_dir = content_dir
        self._cache: dict[str, tuple[tuple[int, int, int], Form]] = {}

    def __call__(self, form_id: str) -> Form:
        """The served form ``form_id``; :class:`~api.LocalApiError` ``no_form`` if none is."""
        try:
            identifier(form_id, "form")
        except DocumentInvalid:
            raise api.LocalApiError("bad_request", "form must be a form id") from None
        path = self._content_dir() / "forms" / f"{form_id}.yaml"
        try:
            info = os.stat(path)
        except OSError:
            raise api.LocalApiError("no_form", f"form {form_id} is not served here") from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._cache.get(form_id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            form = load_form(path)
        except (DocumentInvalid, OSError) as exc:
            log.warning("served form %s cannot be read: %s", form_id, exc)
            raise api.LocalApiError("no_form", f"form {form_id} cannot be read") from None
        if len(self._cache) >= MAX_CACHED_FORMS:
            self._cache.pop(next(iter(self._cache)))
        self._cache[form_id] = (stamp, form)
        return form


def submission(
    form: Form, args: dict[str, Any], *, session: str, today: date
) -> tuple[str, dict[str, Any]]:
    """The envelope kind and body of a completed form, from the UI's ``form.submit`` args."""
    version = args.get("version")
    if version != form.version:
        raise api.LocalApiError(
            "no_form", f"form {form.id} version {version!r} is not the one served ({form.version})"
        )
    answers = args.get("answers")
    if not isinstance(answers, dict):
        raise api.LocalApiError("bad_request", "answers must be an object")
    try:
        clean, scores = form.check_submission(answers, today=today)
    except AnswerInvalid as exc:
        raise api.LocalApiError("bad_answer", f"{exc.question}: {exc.code}") from None
    except ProtocolError as exc:
        raise api.LocalApiError("bad_answer", str(exc)) from None
    at_answer = form.actions_due(clean, at="answer")
    if any(action.stop for action in at_answer):
        raise api.LocalApiError("bad_answer", "these answers stop the form: it is not sent")
    language = args.get("language", "en")
    body: dict[str, Any] = {
        "form": form.id,
        "version": form.version,
        "purpose": form.purpose,
        "language": language[:16] if isinstance(language, str) else "en",
        "answers": clean,
        "scores": scores,
        "bands": _bands(form, scores),
        "actions": [a.id for a in [*form.actions_due(clean, at="end"), *at_answer]],
        "session": session,
    }
    patient = args.get("patient")
    if form.identity == "required" and patient is None:
        raise api.LocalApiError("no_patient", f"form {form.id} needs the patient's details")
    if patient is not None and form.identity != "none":
        body["patient"] = api.patient_arg(patient)
    return form.purpose, body


def _bands(form: Form, scores: dict[str, int]) -> dict[str, str]:
    bands = {}
    for score in form.scores:
        value = scores.get(score.id)
        band = None if value is None else score.band(value)
        if band is not None:
            bands[score.id] = band.label.get("en")
    return bands


def action_alert(form: Form, args: dict[str, Any]) -> dict[str, Any]:
    """The body fields of a staff alert raised by a form action (``alert.raise form_action``)."""
    action_id = args.get("action")
    action = next((a for a in form.actions if a.id == action_id), None)
    if action is None or action.alert is None:
        raise api.LocalApiError(
            "bad_request", f"form {form.id} has no alerting action {action_id!r}"
        )
    return {
        "form": form.id,
        "version": form.version,
        "action": action.id,
        "level": action.alert,
        "signpost": action.signpost or "",
    }
