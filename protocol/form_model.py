"""What a form is once read: its pages, questions, options, scores and actions.

The frozen dataclasses every part shares (the console checks forms with them before a push,
the agent checks submissions, the UI draws them); reading a form from YAML is
:mod:`healthhub.protocol.forms`, and the rules that look at answers are
:mod:`healthhub.protocol.form_logic`. Import these names from :mod:`healthhub.protocol.forms`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Final

from healthhub.protocol import form_logic
from healthhub.protocol.form_answers import TEXT_FORMATTERS
from healthhub.protocol.form_logic import Band, Condition
from healthhub.protocol.texts import Text

FORM_PURPOSES: Final = frozenset(
    {"questionnaire", "change_of_details", "consultation_request", "support_request"}
)
#: Whether the patient's identity goes with a submission: ``required`` (the practice must
#: know who: a change of details), ``optional`` (the patient chooses), ``none`` (never:
#: anonymous feedback).
IDENTITY_RULES: Final = frozenset({"required", "optional", "none"})
QUESTION_TYPES: Final = frozenset({"single", "multiple", "number", "date", "text", "yes_no"})
TEXT_FORMATS: Final = frozenset(TEXT_FORMATTERS)
#: Where the patient is pointed: ``crisis`` (mental health crisis: Samaritans, NHS 111
#: option 2), ``emergency`` (call 999 now), ``urgent`` (NHS 111 today), ``reception`` (speak
#: to reception), ``pharmacy`` (a community pharmacist). The UI holds the wording of each.
SIGNPOSTS: Final = frozenset({"crisis", "emergency", "urgent", "reception", "pharmacy"})
ALERT_LEVELS: Final = frozenset({"raised", "high", "urgent"})
ACTION_TIMES: Final = frozenset({"answer", "end"})
#: A form is one content file a device holds in memory while a patient fills it in.
MAX_FORM_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class Option:
    value: str
    label: Text
    score: int | None = None


@dataclass(frozen=True)
class Question:
    id: str
    type: str  # one of QUESTION_TYPES
    prompt: Text
    help: Text | None
    required: bool
    options: tuple[Option, ...]  # single and multiple only
    min: float | None  # number only, like max, decimals and unit
    max: float | None
    decimals: int
    unit: str | None
    max_length: int  # text only, like format
    format: str | None
    earliest: str | None  # date only: "today", "YYYY-MM-DD" or an offset like "-120y"
    latest: str | None
    show_if: Condition | None

    def visible(self, answers: Mapping[str, Any]) -> bool:
        """Whether ``answers`` make this question shown (its page aside)."""
        return self.show_if is None or self.show_if.holds(answers, {})

    def option(self, value: str) -> Option:
        """The option whose value is ``value``; KeyError if there is none."""
        for option in self.options:
            if option.value == value:
                return option
        raise KeyError(value)

    @property
    def option_values(self) -> frozenset[str]:
        return frozenset(option.value for option in self.options)


@dataclass(frozen=True)
class Page:
    id: str
    title: Text | None
    intro: Text | None
    questions: tuple[Question, ...]
    show_if: Condition | None

    def visible(self, answers: Mapping[str, Any]) -> bool:
        """Whether ``answers`` make this page shown (whatever its questions say)."""
        return self.show_if is None or self.show_if.holds(answers, {})


@dataclass(frozen=True)
class Score:
    id: str
    label: Text
    items: tuple[str, ...]  # ids of the single-choice questions it adds up
    bands: tuple[Band, ...]  # ascending, covering `range` without gaps or overlaps
    range: tuple[int, int]  # the lowest and highest totals the items can make

    def band(self, value: int) -> Band | None:
        for band in self.bands:
            if band.low <= value <= band.high:
                return band
        return None


@dataclass(frozen=True)
class Action:
    id: str
    when: Condition
    at: str  # one of ACTION_TIMES
    signpost: str | None
    alert: str | None
    stop: bool  # the form ends here and is not submitted


@dataclass(frozen=True)
class Form:
    id: str
    version: int
    purpose: str
    title: Text
    intro: Text | None
    identity: str
    source: str | None  # the published instrument, for staff
    show_score: bool  # whether the patient is shown the band their score falls in
    pages: tuple[Page, ...]
    scores: tuple[Score, ...]
    actions: tuple[Action, ...]

    @property
    def questions(self) -> tuple[Question, ...]:
        """Every question, in the order the form asks them."""
        return tuple(question for page in self.pages for question in page.questions)

    @cached_property
    def _by_id(self) -> dict[str, Question]:
        return {question.id: question for question in self.questions}

    def question(self, qid: str) -> Question:
        """The question ``qid``; KeyError if the form has none."""
        return self._by_id[qid]

    @property
    def languages(self) -> frozenset[str]:
        """Languages in which every text of the form is written; always with English, which
        stands in for a missing translation."""
        return frozenset.intersection(*(text.languages for text in self._texts())) | {"en"}

    def _texts(self) -> Iterator[Text]:
        yield self.title
        for page in self.pages:
            for question in page.questions:
                yield question.prompt
                yield from (option.label for option in question.options)
                if question.help is not None:
                    yield question.help
            yield from (text for text in (page.title, page.intro) if text is not None)
        for score in self.scores:
            yield score.label
            yield from (band.label for band in score.bands)
        if self.intro is not None:
            yield self.intro

    def shown_answers(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers to questions ``answers`` make shown, in form order; answers to hidden
        questions (and blank ones) are left out, so they count for nothing."""
        return form_logic.shown_answers(self, answers)

    def visible_pages(self, answers: Mapping[str, Any]) -> list[Page]:
        """The pages to show, in order: those whose ``show_if`` holds and which have at least
        one question to show."""
        shown = self.shown_answers(answers)
        return [
            page
            for page in self.pages
            if page.visible(shown) and any(q.visible(shown) for q in page.questions)
        ]

    def visible_questions(self, page: Page, answers: Mapping[str, Any]) -> list[Question]:
        """The questions of ``page`` to show (none if the page itself is hidden)."""
        shown = self.shown_answers(answers)
        if not page.visible(shown):
            return []
        return [question for question in page.questions if question.visible(shown)]

    def scores_of(self, answers: Mapping[str, Any]) -> dict[str, int]:
        """Each score whose every item is answered (with one of its options), by id."""
        shown = self.shown_answers(answers)
        totals = {score.id: form_logic.score_total(self, score, shown) for score in self.scores}
        return {sid: total for sid, total in totals.items() if total is not None}

    def actions_due(self, answers: Mapping[str, Any], *, at: str) -> list[Action]:
        """Actions set to fire ``at`` (``answer`` or ``end``) whose ``when`` holds on the shown
        answers and the scores they make, in form order."""
        if at not in ACTION_TIMES:
            raise ValueError(f"at must be one of {', '.join(sorted(ACTION_TIMES))}, not {at!r}")
        shown = self.shown_answers(answers)
        scores = self.scores_of(shown)
        return [a for a in self.actions if a.at == at and a.when.holds(shown, scores)]

    def check_submission(
        self, answers: Mapping[str, Any], *, today: date
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """The whole set of answers as submitted, checked: ``(answers, scores)`` with every
        answer in its normal form, or :class:`AnswerInvalid` for the first fault: an id the
        form does not have (``unknown_question``), then in form order an answer to a question
        the other answers hide (``not_shown``), a shown required question without an answer
        (``required``), or an answer :func:`check_answer` refuses. Dates are checked against
        ``today``."""
        return form_logic.check_submission(self, answers, today=today)
