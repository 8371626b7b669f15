"""One form being filled in: its pages, the answers so far, what is wrong, what is due.

Plain Python over the forms engine (:mod:`healthhub.protocol.forms`), so the screen only
copies state. The form decides everything: which pages and questions show (conditions),
what an answer may be, and which actions fire. Actions ``at: answer`` fire as soon as the
answers make them true (PHQ-9 item 9 shows crisis signposting the moment it is answered);
each fires once per form. Answers to questions that a later change hides are dropped, so
what is sent is exactly what the patient could see.

A form is shown in the patient's language only if every one of its texts is translated
(:attr:`Form.languages`); otherwise it is shown in English and the patient is told so.
Validated questionnaires (PHQ-9, GAD-7) must not be machine-translated, and a half
translated form would mix languages mid-question.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

from healthhub.protocol.forms import Action, AnswerInvalid, Form, Page, Question, check_answer
from healthhub.ui.i18n import N_

#: Free-text questions type into a draft; choices answer at once.
TYPED = frozenset({"text", "number", "date"})

#: What the patient is told for each problem the engine finds with an answer.
PROBLEM_TEXTS = {
    "required": N_("Please answer this question."),
    "not_an_option": N_("Please choose one of the answers."),
    "out_of_range": N_("Please give a number from {min} to {max}."),
    "too_precise": N_("Please give a whole number."),
    "too_long": N_("Please use at most {max_length} characters."),
    "not_a_number": N_("Please give a number."),
    "not_a_date": N_("Please give a date as day, month and year, for example 31 12 1980."),
    "too_early": N_("Please check the date: it is too far in the past."),
    "too_late": N_("Please check the date: it is too far in the future."),
    "bad_postcode": N_("This does not look like a UK postcode. For example: SW1A 1AA."),
    "bad_phone": N_("This does not look like a UK phone number. For example: 07700 900123."),
    "bad_email": N_("This does not look like an email address. For example: name@example.com."),
}
ONLY_ENGLISH = N_("This form is only in English. Ask at reception if you would like help.")


class FormState(enum.StrEnum):
    FILLING = "filling"
    SIGNPOST = "signpost"  # an action's signpost is showing; the form can go on
    STOPPED = "stopped"  # an action stopped the form: it is not sent
    SENT = "sent"


class FormFlow:
    def __init__(self, form: Form, language: str, *, today: date) -> None:
        self.form = form
        self.translated = language in form.languages
        self.language = language if self.translated else "en"
        self.today = today
        self.answers: dict[str, Any] = {}
        self.drafts: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.page_index = 0
        self.fired: set[str] = set()
        self.state = FormState.FILLING
        self.signpost: str | None = None
        self.alerted = False
        self.scores: dict[str, int] = {}
        self.bands: dict[str, str] = {}

    # -- where we are ---------------------------------------------------------------------

    @property
    def pages(self) -> list[Page]:
        return self.form.visible_pages(self.answers)

    @property
    def page(self) -> Page:
        pages = self.pages
        return pages[min(self.page_index, len(pages) - 1)]

    @property
    def questions(self) -> list[Question]:
        return self.form.visible_questions(self.page, self.answers)

    @property
    def on_last_page(self) -> bool:
        return self.page_index >= len(self.pages) - 1

    def text(self, value: Any) -> str:
        """A form text (a :class:`~healthhub.protocol.texts.Text`) in the form's language."""
        return "" if value is None else str(value.get(self.language))

    def problem(self, question: Question) -> tuple[str, dict[str, Any]] | None:
        """The problem with ``question``'s answer as (message, placeholders), if any."""
        code = self.errors.get(question.id)
        if code is None:
            return None
        fields = {"min": question.min, "max": question.max, "max_length": question.max_length}
        return PROBLEM_TEXTS.get(code, PROBLEM_TEXTS["required"]), fields

    # -- answering -------------------------------------------------------------------------

    def choose(self, question_id: str, value: Any) -> list[Action]:
        """A choice touched (single, yes/no: set; multiple: toggled); returns actions now due."""
        question = self.form.question(question_id)
        if question.type == "multiple":
            chosen = list(self.answers.get(question_id, []))
            chosen = [v for v in chosen if v != value] if value in chosen else [*chosen, value]
            if chosen:
                self.answers[question_id] = chosen
            else:
                self.answers.pop(question_id, None)
        else:
            self.answers[question_id] = value
        self.errors.pop(question_id, None)
        self._prune()
        return self._due()

    def type_text(self, question_id: str, text: str) -> None:
        """What the patient has typed so far; it is checked when they go on."""
        self.drafts[question_id] = text
        self.errors.pop(question_id, None)

    def _due(self) -> list[Action]:
        due = [
            a for a in self.form.actions_due(self.answers, at="answer") if a.id not in self.fired
        ]
        self.fired |= {a.id for a in due}
        for action in due:
            if action.signpost:
                self.signpost = action.signpost
                self.state = FormState.SIGNPOST
            if action.stop:
                self.state = FormState.STOPPED
        return due

    def _prune(self) -> None:
        """Drop answers (and drafts) of questions no longer shown."""
        visible = {
            q.id for page in self.pages for q in self.form.visible_questions(page, self.answers)
        }
        for question_id in [q for q in self.answers if q not in visible]:
            del self.answers[question_id]
        for question_id in [q for q in self.drafts if q not in visible]:
            del self.drafts[question_id]

    def carry_on(self) -> None:
        """Back to the form from a signpost that did not stop it."""
        if self.state == FormState.SIGNPOST:
            self.state = FormState.FILLING

    # -- pages -----------------------------------------------------------------------------

    def check_page(self) -> bool:
        """Check every question on this page; True if the patient may go on."""
        self.errors.clear()
        for question in self.questions:
            draft = self.drafts.get(question.id)
            if question.type in TYPED and draft is not None:
                if draft.strip():
                    try:
                        self.answers[question.id] = check_answer(
                            question, _typed(question, draft), today=self.today
                        )
                    except AnswerInvalid as exc:
                        self.errors[question.id] = exc.code
                        continue
                else:
                    self.answers.pop(question.id, None)
            if question.required and question.id not in self.answers:
                self.errors[question.id] = "required"
        return not self.errors

    def next_page(self) -> list[Action]:
        """Go on if this page is complete; returns actions due (typed answers can fire them)."""
        if not self.check_page():
            return []
        self._prune()
        due = self._due()
        if self.state == FormState.FILLING and not self.on_last_page:
            self.page_index += 1
        return due

    def previous_page(self) -> None:
        self.errors.clear()
        self.page_index = max(0, self.page_index - 1)

    def submission(self) -> dict[str, Any]:
        """The ``form.submit`` arguments (without session and patient)."""
        return {
            "form": self.form.id,
            "version": self.form.version,
            "language": self.language,
            "answers": dict(self.answers),
        }


def _typed(question: Question, draft: str) -> Any:
    """A typed draft as the engine expects it: numbers as numbers, dates as ISO dates."""
    text = draft.strip()
    if question.type == "number":
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            return text  # the engine says "not_a_number"
        return int(value) if value.is_integer() and question.decimals == 0 else value
    if question.type == "date":
        parts = text.replace("/", " ").replace(".", " ").replace("-", " ").split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            day, month, year = parts
            return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
        return text
    return text
