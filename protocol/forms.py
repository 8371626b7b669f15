"""Forms: questionnaires and requests a patient fills in at the kiosk, read from YAML.

A practice (or the fleet, for forms every practice uses) pushes forms as content files
(``forms/phq-9.yaml``). Practice and IT staff write them, not programmers, so the reader is
strict and says exactly where a fault is (``phq-9.yaml: pages[0].questions[8].options[1].score``)
before anything reaches a patient: unknown keys, a missing English text, a condition that looks
at a question not yet asked, score bands with a gap. Everything a form can do is in the
document and checked here; the UI only draws it.

A form has pages of questions; a page or a question can be shown only when earlier answers
make its ``show_if`` hold, so a condition may look only at questions that come before it (in
page order, then question order). *Scores* add up the option scores of single-choice questions
(PHQ-9, GAD-7, AUDIT-C) and name the band a total falls in. *Actions* are what answers set
off: a signpost for the patient (``crisis``: Samaritans and NHS 111 option 2; ``emergency``:
call 999), an alert to staff, or the end of the form when a red flag means it must not be
submitted; ``at: answer`` actions fire as soon as the answers make them true (the UI checks
after every answer), ``at: end`` ones when the form is completed. Actions may look at any
question and at scores.

Answers a patient gave to questions that are no longer shown (they went back and changed an
earlier answer) count for nothing: every method here first keeps only the answers to questions
shown (:meth:`Form.shown_answers`), in order, so a stale answer can neither show a question
nor set off an action; :meth:`Form.check_submission` refuses them outright (``not_shown``).

This module reads a form; what a form is once read (the dataclasses) is
:mod:`healthhub.protocol.form_model`, and the rules that look at answers (conditions, the
check of one answer) are in :mod:`healthhub.protocol.form_logic`; the public names of both are
importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from healthhub.protocol.form_answers import (
    ANSWER_PROBLEMS,
    AnswerInvalid,
    check_answer,
    resolve_date,
)
from healthhub.protocol.form_logic import (
    AllOf,
    Answered,
    AnyOf,
    AtLeast,
    AtMost,
    Band,
    Condition,
    NoneOf,
    OneOf,
    parse_bands,
    parse_condition,
)
from healthhub.protocol.form_model import (
    ACTION_TIMES,
    ALERT_LEVELS,
    FORM_PURPOSES,
    IDENTITY_RULES,
    MAX_FORM_BYTES,
    QUESTION_TYPES,
    SIGNPOSTS,
    TEXT_FORMATS,
    Action,
    Form,
    Option,
    Page,
    Question,
    Score,
)
from healthhub.protocol.texts import (
    DocumentInvalid,
    identifier,
    mapping,
    optional_text,
    parse_text,
    sequence,
)
from healthhub.protocol.yaml_documents import read_yaml_document

__all__ = [
    "ACTION_TIMES",
    "ALERT_LEVELS",
    "ANSWER_PROBLEMS",
    "FORM_PURPOSES",
    "IDENTITY_RULES",
    "MAX_FORM_BYTES",
    "QUESTION_TYPES",
    "SIGNPOSTS",
    "TEXT_FORMATS",
    "Action",
    "AllOf",
    "AnswerInvalid",
    "Answered",
    "AnyOf",
    "AtLeast",
    "AtMost",
    "Band",
    "Condition",
    "Form",
    "FormInvalid",
    "NoneOf",
    "OneOf",
    "Option",
    "Page",
    "Question",
    "Score",
    "check_answer",
    "load_form",
    "parse_form",
]

# -- reading a form ------------------------------------------------------------------------


class FormInvalid(DocumentInvalid):
    """A form document that does not follow the schema; ``path`` names the file and place."""


MAX_PAGES: Final = 30
MAX_QUESTIONS_PER_PAGE: Final = 30
MAX_OPTIONS: Final = 20
MAX_SCORES: Final = 10
MAX_SCORE_ITEMS: Final = 60
MAX_ACTIONS: Final = 50
MAX_OPTION_SCORE: Final = 100
MAX_DECIMALS: Final = 2
MAX_TEXT_LENGTH: Final = 2000
DEFAULT_TEXT_LENGTH: Final = 200
MAX_SOURCE_CHARS: Final = 500
MAX_UNIT_CHARS: Final = 16
# Texts are read on a kiosk screen: a title or a label is a line or two, a prompt a few.
MAX_TITLE_CHARS: Final = 200
MAX_LABEL_CHARS: Final = 200
MAX_PROMPT_CHARS: Final = 1000
MAX_HELP_CHARS: Final = 2000
# Numbers in a form are answers a patient types on a keypad.
MAX_MAGNITUDE: Final = 1e9

_FORM_KEYS: Final = frozenset(
    {"form", "version", "purpose", "title", "intro", "identity", "source", "show_score"}
    | {"pages", "scores", "actions"}
)
_FORM_REQUIRED: Final = frozenset({"form", "version", "purpose", "title", "identity", "pages"})
_PAGE_KEYS: Final = frozenset({"id", "title", "intro", "show_if", "questions"})
_QUESTION_KEYS: Final = frozenset({"id", "type", "prompt", "help", "required", "show_if"})
_TYPE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "single": frozenset({"options"}),
    "multiple": frozenset({"options"}),
    "number": frozenset({"min", "max", "decimals", "unit"}),
    "date": frozenset({"earliest", "latest"}),
    "text": frozenset({"max_length", "format"}),
    "yes_no": frozenset(),
}
_ALL_QUESTION_KEYS: Final = _QUESTION_KEYS.union(*_TYPE_KEYS.values())
_OPTION_KEYS: Final = frozenset({"value", "label", "score"})
_SCORE_KEYS: Final = frozenset({"id", "label", "sum", "bands"})
_ACTION_KEYS: Final = frozenset({"id", "when", "at", "signpost", "alert", "stop"})
# Relative earliest/latest are compared with each other on this day, only to catch a range
# that is empty on every day; the real day comes with each answer.
_SOME_DAY: Final = date(2000, 1, 1)


def _choice(value: Any, path: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise FormInvalid(path, f"{value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise FormInvalid(path, "must be true or false")
    return value


def _whole(value: Any, path: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormInvalid(path, "must be a whole number")
    if not low <= value <= high:
        raise FormInvalid(path, f"is {value}; {low} to {high} allowed")
    return value


def _real(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FormInvalid(path, "must be a number")
    if abs(value) > MAX_MAGNITUDE:
        raise FormInvalid(path, f"is beyond {MAX_MAGNITUDE:g}, more than any answer can be")
    return value


def _plain(value: Any, path: str, max_chars: int) -> str | None:
    """An optional one-language string (a unit, a citation)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FormInvalid(path, "must be a text that is not empty")
    if len(value.strip()) > max_chars:
        raise FormInvalid(path, f"is {len(value.strip())} characters; at most {max_chars}")
    return value.strip()


def _option_value(value: Any, path: str) -> str:
    if isinstance(value, bool):
        raise FormInvalid(
            path,
            f"is {str(value).lower()}: YAML reads yes, no, on, off, true and false as true or "
            "false; put the value in quotes ('no')",
        )
    return identifier(value, path)


def _options(value: Any, path: str) -> tuple[Option, ...]:
    items = sequence(value, path, min_items=2, max_items=MAX_OPTIONS)
    options: list[Option] = []
    for index, item in enumerate(items):
        place = f"{path}[{index}]"
        body = mapping(item, place, allowed=_OPTION_KEYS, required=frozenset({"value", "label"}))
        option_value = _option_value(body["value"], f"{place}.value")
        if any(option.value == option_value for option in options):
            raise FormInvalid(f"{place}.value", f"{option_value} is given twice")
        score = body.get("score")
        if score is not None:
            score = _whole(score, f"{place}.score", low=-MAX_OPTION_SCORE, high=MAX_OPTION_SCORE)
        label = parse_text(body["label"], f"{place}.label", max_chars=MAX_LABEL_CHARS)
        options.append(Option(option_value, label, score))
    return tuple(options)


@dataclass(frozen=True)
class _Details:
    """The fields of a question that only some types have, with their defaults."""

    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    decimals: int = 0
    unit: str | None = None
    max_length: int = DEFAULT_TEXT_LENGTH
    format: str | None = None
    earliest: str | None = None
    latest: str | None = None


def _choice_details(body: Mapping[str, Any], path: str) -> _Details:
    if "options" not in body:
        raise FormInvalid(path, f"missing options: a {body['type']} question needs 2 or more")
    return _Details(options=_options(body["options"], f"{path}.options"))


def _number_details(body: Mapping[str, Any], path: str) -> _Details:
    if "min" not in body or "max" not in body:
        raise FormInvalid(path, "a number question needs min and max: the answers it can take")
    low, high = _real(body["min"], f"{path}.min"), _real(body["max"], f"{path}.max")
    if low >= high:
        raise FormInvalid(f"{path}.max", f"is {high:g}; it must be above min ({low:g})")
    return _Details(
        min=low,
        max=high,
        decimals=_whole(body.get("decimals", 0), f"{path}.decimals", low=0, high=MAX_DECIMALS),
        unit=_plain(body.get("unit"), f"{path}.unit", MAX_UNIT_CHARS),
    )


def _text_details(body: Mapping[str, Any], path: str) -> _Details:
    text_format = body.get("format")
    return _Details(
        max_length=_whole(
            body.get("max_length", DEFAULT_TEXT_LENGTH),
            f"{path}.max_length",
            low=1,
            high=MAX_TEXT_LENGTH,
        ),
        format=None
        if text_format is None
        else _choice(text_format, f"{path}.format", TEXT_FORMATS),
    )


def _date_spec(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if type(value) is date:  # YAML reads an unquoted 2025-01-31 as a date
        return value.isoformat()
    try:
        resolve_date(value if isinstance(value, str) else "", _SOME_DAY)
    except ValueError:
        raise FormInvalid(
            path,
            "must be today, a date (2025-01-31) or an offset from today: -120y, -30d, +2w, "
            "+6m (at most 200 years)",
        ) from None
    return str(value)


def _date_details(body: Mapping[str, Any], path: str) -> _Details:
    earliest = _date_spec(body.get("earliest"), f"{path}.earliest")
    latest = _date_spec(body.get("latest"), f"{path}.latest")
    if earliest is not None and latest is not None:
        # Two dates of one kind (both fixed, or both relative to today) are in the same order
        # on every day; a fixed one against a relative one depends on the day.
        same_kind = (earliest[0] in "+-t") == (latest[0] in "+-t")
        if same_kind and resolve_date(earliest, _SOME_DAY) > resolve_date(latest, _SOME_DAY):
            raise FormInvalid(f"{path}.latest", "is before earliest: no date could be given")
    return _Details(earliest=earliest, latest=latest)


def _no_details(body: Mapping[str, Any], path: str) -> _Details:
    return _Details()


_DETAILS: Final[Mapping[str, Callable[[Mapping[str, Any], str], _Details]]] = {
    "single": _choice_details,
    "multiple": _choice_details,
    "number": _number_details,
    "date": _date_details,
    "text": _text_details,
    "yes_no": _no_details,
}


class _Reader:
    """Reads one form document, keeping what later parts are checked against: the questions
    so far (a ``show_if`` may look only at those) and where each was defined."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.questions: dict[str, Question] = {}
        self.places: dict[str, str] = {}
        self.scores: dict[str, Score] = {}
        self.action_ids: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.where}: {key}"

    def form(self, data: Any) -> Form:
        body = mapping(data, self.where, allowed=_FORM_KEYS, required=_FORM_REQUIRED)
        form_id = identifier(body["form"], self.at("form"))
        version = _whole(body["version"], self.at("version"), low=1, high=2**31 - 1)
        purpose = _choice(body["purpose"], self.at("purpose"), FORM_PURPOSES)
        title = parse_text(body["title"], self.at("title"), max_chars=MAX_TITLE_CHARS)
        intro = optional_text(body.get("intro"), self.at("intro"))
        identity = _choice(body["identity"], self.at("identity"), IDENTITY_RULES)
        source = _plain(body.get("source"), self.at("source"), MAX_SOURCE_CHARS)
        show_score = _flag(body.get("show_score", False), self.at("show_score"))
        pages = self.pages(body["pages"])
        scores = tuple(
            self.score(item, self.at(f"scores[{index}]"))
            for index, item in enumerate(self.items(body.get("scores"), "scores", MAX_SCORES))
        )
        actions = tuple(
            self.action(item, self.at(f"actions[{index}]"))
            for index, item in enumerate(self.items(body.get("actions"), "actions", MAX_ACTIONS))
        )
        return Form(
            id=form_id,
            version=version,
            purpose=purpose,
            title=title,
            intro=intro,
            identity=identity,
            source=source,
            show_score=show_score,
            pages=pages,
            scores=scores,
            actions=actions,
        )

    def items(self, value: Any, key: str, max_items: int) -> list[Any]:
        """An optional list (``scores:`` with nothing after it is no list)."""
        return [] if value is None else sequence(value, self.at(key), max_items=max_items)

    def show_if(self, body: Mapping[str, Any], path: str) -> Condition | None:
        if body.get("show_if") is None:
            return None
        # The questions read so far are exactly those before this page or question.
        return parse_condition(
            body["show_if"], f"{path}.show_if", questions=self.questions, scores=None
        )

    def pages(self, value: Any) -> tuple[Page, ...]:
        items = sequence(value, self.at("pages"), min_items=1, max_items=MAX_PAGES)
        pages: list[Page] = []
        for index, item in enumerate(items):
            place = self.at(f"pages[{index}]")
            page = self.page(item, place)
            if any(other.id == page.id for other in pages):
                raise FormInvalid(f"{place}.id", f"{page.id} is given twice: page ids are unique")
            pages.append(page)
        return tuple(pages)

    def page(self, value: Any, path: str) -> Page:
        body = mapping(value, path, allowed=_PAGE_KEYS, required=frozenset({"id", "questions"}))
        page_id = identifier(body["id"], f"{path}.id")
        show_if = self.show_if(body, path)
        title = optional_text(body.get("title"), f"{path}.title", max_chars=MAX_TITLE_CHARS)
        intro = optional_text(body.get("intro"), f"{path}.intro")
        items = sequence(
            body["questions"], f"{path}.questions", min_items=1, max_items=MAX_QUESTIONS_PER_PAGE
        )
        questions = tuple(
            self.question(item, f"{path}.questions[{index}]") for index, item in enumerate(items)
        )
        return Page(page_id, title, intro, questions, show_if)

    def question(self, value: Any, path: str) -> Question:
        body = mapping(
            value, path, allowed=_ALL_QUESTION_KEYS, required=frozenset({"id", "type", "prompt"})
        )
        qid = identifier(body["id"], f"{path}.id")
        if qid in self.places:
            raise FormInvalid(
                f"{path}.id", f"{qid} is already the id of {self.places[qid]}: ids are unique"
            )
        kind = _choice(body["type"], f"{path}.type", QUESTION_TYPES)
        stray = sorted(set(body) - _QUESTION_KEYS - _TYPE_KEYS[kind])
        if stray:
            owners = sorted(other for other, keys in _TYPE_KEYS.items() if stray[0] in keys)
            raise FormInvalid(
                f"{path}.{stray[0]}", f"is not for {kind} questions, only {', '.join(owners)}"
            )
        details = _DETAILS[kind](body, path)
        question = Question(
            id=qid,
            type=kind,
            prompt=parse_text(body["prompt"], f"{path}.prompt", max_chars=MAX_PROMPT_CHARS),
            help=optional_text(body.get("help"), f"{path}.help", max_chars=MAX_HELP_CHARS),
            required=_flag(body.get("required", True), f"{path}.required"),
            options=details.options,
            min=details.min,
            max=details.max,
            decimals=details.decimals,
            unit=details.unit,
            max_length=details.max_length,
            format=details.format,
            earliest=details.earliest,
            latest=details.latest,
            show_if=self.show_if(body, path),
        )
        self.questions[qid] = question
        self.places[qid] = path.removeprefix(f"{self.where}: ")
        return question

    def summed(self, value: Any, path: str, score: str, before: list[str]) -> Question:
        """A question ``score`` adds up: single choice, a score on every option."""
        qid = identifier(value, path)
        if qid in before:
            raise FormInvalid(path, f"{qid} is summed twice")
        question = self.questions.get(qid)
        if question is None:
            raise FormInvalid(path, f"{qid} is not a question of this form")
        if question.type != "single":
            raise FormInvalid(
                path, f"{qid} is a {question.type} question: a score adds up single choices"
            )
        for index, option in enumerate(question.options):
            if option.score is None:
                raise FormInvalid(
                    self.at(f"{self.places[qid]}.options[{index}].score"),
                    f"is missing: {qid} is summed in score {score}, so each option needs one",
                )
        return question

    def score(self, value: Any, path: str) -> Score:
        body = mapping(value, path, allowed=_SCORE_KEYS, required=frozenset({"id", "label", "sum"}))
        sid = identifier(body["id"], f"{path}.id")
        if sid in self.scores:
            raise FormInvalid(f"{path}.id", f"{sid} is given twice: score ids are unique")
        label = parse_text(body["label"], f"{path}.label", max_chars=MAX_LABEL_CHARS)
        items = sequence(body["sum"], f"{path}.sum", min_items=1, max_items=MAX_SCORE_ITEMS)
        ids: list[str] = []
        low = high = 0
        for index, item in enumerate(items):
            question = self.summed(item, f"{path}.sum[{index}]", sid, ids)
            points = [option.score or 0 for option in question.options]
            low, high = low + min(points), high + max(points)
            ids.append(question.id)
        bands = parse_bands(body.get("bands"), f"{path}.bands", (low, high))
        self.scores[sid] = Score(sid, label, tuple(ids), bands, (low, high))
        return self.scores[sid]

    def action(self, value: Any, path: str) -> Action:
        body = mapping(value, path, allowed=_ACTION_KEYS, required=frozenset({"id", "when", "at"}))
        aid = identifier(body["id"], f"{path}.id")
        if aid in self.action_ids:
            raise FormInvalid(f"{path}.id", f"{aid} is given twice: action ids are unique")
        self.action_ids.add(aid)
        when = parse_condition(
            body["when"], f"{path}.when", questions=self.questions, scores=self.scores
        )
        action = Action(
            id=aid,
            when=when,
            at=_choice(body["at"], f"{path}.at", ACTION_TIMES),
            signpost=_optional_choice(body, path, "signpost", SIGNPOSTS),
            alert=_optional_choice(body, path, "alert", ALERT_LEVELS),
            stop=_flag(body.get("stop", False), f"{path}.stop"),
        )
        if action.signpost is None and action.alert is None and not action.stop:
            raise FormInvalid(path, "does nothing: give it a signpost, an alert or stop: true")
        return action


def _optional_choice(
    body: Mapping[str, Any], path: str, key: str, allowed: frozenset[str]
) -> str | None:
    value = body.get(key)
    return None if value is None else _choice(value, f"{path}.{key}", allowed)


def parse_form(data: Any, *, where: str = "form") -> Form:
    """A form from its document as YAML reads it; :class:`FormInvalid` naming ``where`` and
    the place of the first fault."""
    try:
        return _Reader(where).form(data)
    except FormInvalid:
        raise
    except DocumentInvalid as exc:
        # The shared readers of texts, lists and ids raise the general error.
        raise FormInvalid(exc.path, exc.message) from None


def load_form(path: Path) -> Form:
    """The form in the YAML file at ``path`` (at most :data:`MAX_FORM_BYTES`, UTF-8, read as
    staff mean it: :mod:`healthhub.protocol.yaml_documents`); any fault, unreadable file and
    bad YAML included, is a :class:`FormInvalid` named after the file."""
    where = path.name
    data = read_yaml_document(path, where, FormInvalid, limit=MAX_FORM_BYTES)
    return parse_form(data, where=where)
