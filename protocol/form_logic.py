"""What a form does with answers: conditions, scores, and the check of each answer.

:mod:`healthhub.protocol.forms` reads a form document into a model; this module holds the parts
that look at answers (and reads the parts of the document that are about them: conditions and
score bands), so that the kiosk, while a patient fills a form in, and the agent, which checks
the submission, apply the same rules to the same values.

**Conditions** (``show_if`` and an action's ``when``) are a small tree of frozen dataclasses
with one method, ``holds(answers, scores)``. Nothing is known about a question nobody answered,
so every test on it is false: ``equals``, ``in``, ``at_least``, ``at_most`` and ``not_in``
alike (``not_in`` is "answered, and not with one of these"); only ``answered: false`` holds.
On a multiple-choice question, ``equals: x`` and ``in: [...]`` hold when one of the values was
among those chosen, and ``not_in`` when none was.

**Answers** are checked one question at a time by
:func:`~healthhub.protocol.form_answers.check_answer`, and a whole
submission by :func:`check_submission`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from healthhub.protocol.form_answers import AnswerInvalid, check_answer, is_answered
from healthhub.protocol.texts import (
    DocumentInvalid,
    Text,
    identifier,
    mapping,
    parse_text,
    sequence,
)

if TYPE_CHECKING:
    from healthhub.protocol.form_model import Form, Question, Score


# -- conditions ----------------------------------------------------------------------------


def _chosen(value: Any) -> frozenset[str | bool] | None:
    """What an answer chose, as ``equals``/``in``/``not_in`` compare it; None if nothing."""
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return frozenset({value})
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


def _number(source: Mapping[str, Any], key: str) -> float | None:
    value = source.get(key)
    # bool is an int in Python; a yes/no answer is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


@dataclass(frozen=True)
class OneOf:
    """``equals: v`` and ``in: [...]``: the answer is one of ``values`` (for a multiple-choice
    question, one of them was chosen)."""

    question: str
    values: frozenset[str | bool]

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        chosen = _chosen(answers.get(self.question))
        return chosen is not None and not chosen.isdisjoint(self.values)


@dataclass(frozen=True)
class NoneOf:
    """``not_in: [...]``: the question was answered, and with none of ``values``."""

    question: str
    values: frozenset[str | bool]

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        chosen = _chosen(answers.get(self.question))
        return chosen is not None and chosen.isdisjoint(self.values)


@dataclass(frozen=True)
class AtLeast:
    """``at_least: n`` on a number question, or on a score when ``of_score``."""

    subject: str
    bound: float
    of_score: bool = False

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        value = _number(scores if self.of_score else answers, self.subject)
        return value is not None and value >= self.bound


@dataclass(frozen=True)
class AtMost:
    """``at_most: n`` on a number question, or on a score when ``of_score``."""

    subject: str
    bound: float
    of_score: bool = False

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        value = _number(scores if self.of_score else answers, self.subject)
        return value is not None and value <= self.bound


@dataclass(frozen=True)
class Answered:
    """``answered: true`` (or ``false``): whether the question has an answer at all."""

    question: str
    answered: bool = True

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        return is_answered(answers.get(self.question)) == self.answered


@dataclass(frozen=True)
class AllOf:
    """``all: [...]``: every condition holds."""

    conditions: tuple[Condition, ...]

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        return all(condition.holds(answers, scores) for condition in self.conditions)


@dataclass(frozen=True)
class AnyOf:
    """``any: [...]``: at least one condition holds."""

    conditions: tuple[Condition, ...]

    def holds(self, answers: Mapping[str, Any], scores: Mapping[str, int]) -> bool:
        return any(condition.holds(answers, scores) for condition in self.conditions)


Condition: TypeAlias = OneOf | NoneOf | AtLeast | AtMost | Answered | AllOf | AnyOf


# -- reading conditions --------------------------------------------------------------------

MAX_CONDITION_DEPTH: Final = 4
MAX_CONDITION_ITEMS: Final = 20
_QUESTION_OPERATORS: Final = frozenset(
    {"equals", "in", "not_in", "at_least", "at_most", "answered"}
)
_SCORE_OPERATORS: Final = frozenset({"at_least", "at_most"})
_SHAPES: Final = (
    "must be a condition: {question: q1, equals: yes}, {score: total, at_least: 10}, "
    "{all: [...]} or {any: [...]}"
)


def parse_condition(
    value: Any,
    path: str,
    *,
    questions: Mapping[str, Question],
    scores: Mapping[str, Score] | None,
    depth: int = 0,
) -> Condition:
    """A condition from its document. ``questions`` are those it may look at (in ``show_if``,
    the questions before it); ``scores`` those it may test, None where scores cannot be tested
    (``show_if``: a score is known only at the end). Faults are :class:`DocumentInvalid`."""
    if not isinstance(value, Mapping):
        raise DocumentInvalid(path, _SHAPES)
    for key in ("all", "any"):
        if key in value:
            body = mapping(value, path, allowed=frozenset({key}))
            if depth >= MAX_CONDITION_DEPTH:
                raise DocumentInvalid(path, f"nests all/any over {MAX_CONDITION_DEPTH} deep")
            items = sequence(body[key], f"{path}.{key}", min_items=1, max_items=MAX_CONDITION_ITEMS)
            parsed = tuple(
                parse_condition(
                    item, f"{path}.{key}[{i}]", questions=questions, scores=scores, depth=depth + 1
                )
                for i, item in enumerate(items)
            )
            return AllOf(parsed) if key == "all" else AnyOf(parsed)
    if "score" in value:
        return _score_condition(value, path, scores)
    return _question_condition(value, path, questions, in_action=scores is not None)


def _operator(body: Mapping[str, Any], path: str, operators: frozenset[str]) -> str:
    present = [key for key in body if key in operators]
    if len(present) != 1:
        raise DocumentInvalid(path, f"needs exactly one of {', '.join(sorted(operators))}")
    return str(present[0])


def _bound(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DocumentInvalid(path, "must be a number")
    return value


def _score_condition(
    value: Mapping[str, Any], path: str, scores: Mapping[str, Score] | None
) -> Condition:
    if scores is None:
        raise DocumentInvalid(
            f"{path}.score", "a score is known only at the end: test it in an action's when"
        )
    body = mapping(value, path, allowed=_SCORE_OPERATORS | {"score"}, required=frozenset({"score"}))
    operator = _operator(body, path, _SCORE_OPERATORS)
    score = identifier(body["score"], f"{path}.score")
    if score not in scores:
        raise DocumentInvalid(f"{path}.score", f"{score} is not a score of this form")
    bound = _bound(body[operator], f"{path}.{operator}")
    if operator == "at_least":
        return AtLeast(score, bound, of_score=True)
    return AtMost(score, bound, of_score=True)


def _question_condition(
    value: Mapping[str, Any], path: str, questions: Mapping[str, Question], *, in_action: bool
) -> Condition:
    body = mapping(
        value, path, allowed=_QUESTION_OPERATORS | {"question"}, required=frozenset({"question"})
    )
    operator = _operator(body, path, _QUESTION_OPERATORS)
    qid = identifier(body["question"], f"{path}.question")
    question = questions.get(qid)
    if question is None:
        raise DocumentInvalid(
            f"{path}.question",
            f"{qid} is not a question of this form"
            if in_action
            else f"{qid} is not a question asked before this point: show_if can only look "
            "at earlier answers",
        )
    operand, where = body[operator], f"{path}.{operator}"
    if operator == "answered":
        if not isinstance(operand, bool):
            raise DocumentInvalid(where, "must be true or false")
        return Answered(qid, operand)
    if operator in _SCORE_OPERATORS:
        if question.type != "number":
            raise DocumentInvalid(
                where, f"at_least and at_most test numbers; {qid} is a {question.type} question"
            )
        return (
            AtLeast(qid, _bound(operand, where))
            if operator == "at_least"
            else AtMost(qid, _bound(operand, where))
        )
    if operator == "equals":
        return OneOf(qid, frozenset({_compared(question, operand, where)}))
    items = sequence(operand, where, min_items=1, max_items=MAX_CONDITION_ITEMS)
    values = frozenset(_compared(question, item, f"{where}[{i}]") for i, item in enumerate(items))
    return OneOf(qid, values) if operator == "in" else NoneOf(qid, values)


def _compared(question: Question, value: Any, path: str) -> str | bool:
    """A value ``equals``/``in``/``not_in`` compare an answer of ``question`` with."""
    if question.type == "yes_no":
        if not isinstance(value, bool):
            raise DocumentInvalid(path, f"must be true or false: {question.id} is yes/no")
        return value
    if question.type not in {"single", "multiple"}:
        raise DocumentInvalid(
            path,
            f"{question.id} is a {question.type} question: equals, in and not_in compare "
            "choices (single, multiple, yes_no)",
        )
    if not isinstance(value, str) or value not in question.option_values:
        raise DocumentInvalid(
            path,
            f"{value!r} is not an option of {question.id} "
            f"({', '.join(option.value for option in question.options)})",
        )
    return value


# -- scores --------------------------------------------------------------------------------

MAX_BANDS: Final = 10
_BAND_KEYS: Final = frozenset({"from", "to", "label"})
# Beyond any total: an option scores at most 100, a score sums at most 60 questions.
MAX_BAND_BOUND: Final = 6000
MAX_BAND_LABEL_CHARS: Final = 200


@dataclass(frozen=True)
class Band:
    """Totals from ``low`` to ``high`` (both included) and what they are called."""

    low: int
    high: int
    label: Text


def _band_bound(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_BAND_BOUND:
        raise DocumentInvalid(path, "must be a whole number")
    return value


def _band_start_fault(index: int, start: int, expected: int) -> str:
    if index == 0:
        return f"is {start}, but the score can be as low as {expected}: start the first band there"
    if start > expected:
        return (
            f"is {start}, but the band before ends at {expected - 1}: scores from {expected} "
            f"would have no band (start this one at {expected})"
        )
    return (
        f"is {start}, but the band before ends at {expected - 1}: bands must not overlap "
        f"(start this one at {expected})"
    )


def parse_bands(value: Any, path: str, span: tuple[int, int]) -> tuple[Band, ...]:
    """A score's bands from their document: in ascending order, covering ``span`` (the lowest
    to the highest total) exactly, with no gap and no overlap, so every total has one band."""
    if value is None:
        return ()
    items = sequence(value, path, min_items=1, max_items=MAX_BANDS)
    low, high = span
    bands: list[Band] = []
    expected = low
    for index, item in enumerate(items):
        place = f"{path}[{index}]"
        body = mapping(item, place, allowed=_BAND_KEYS, required=_BAND_KEYS)
        start = _band_bound(body["from"], f"{place}.from")
        end = _band_bound(body["to"], f"{place}.to")
        if start != expected:
            raise DocumentInvalid(f"{place}.from", _band_start_fault(index, start, expected))
        if end < start:
            raise DocumentInvalid(f"{place}.to", f"is {end}, below from ({start})")
        label = parse_text(body["label"], f"{place}.label", max_chars=MAX_BAND_LABEL_CHARS)
        bands.append(Band(start, end, label))
        expected = end + 1
    if expected - 1 != high:
        raise DocumentInvalid(
            f"{path}[{len(items) - 1}].to",
            f"is {expected - 1}, but the score can be as high as {high}: end the last band there",
        )
    return tuple(bands)


# -- a form's answers as a whole -----------------------------------------------------------


def shown_answers(form: Form, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to the questions ``answers`` make shown, in form order. A condition looks
    only at earlier questions, so one pass settles it: an answer to a question that is hidden
    (or blank) is left out before any later condition looks."""
    shown: dict[str, Any] = {}
    for page in form.pages:
        if not page.visible(shown):
            continue
        for question in page.questions:
            value = answers.get(question.id)
            if question.visible(shown) and is_answered(value):
                shown[question.id] = value
    return shown


def score_total(form: Form, score: Score, answers: Mapping[str, Any]) -> int | None:
    """The total of ``score`` over ``answers``; None unless every item has an option."""
    total = 0
    for qid in score.items:
        value = answers.get(qid)
        option = next((o for o in form.question(qid).options if o.value == value), None)
        if option is None or option.score is None:
            return None
        total += option.score
    return total


def check_submission(
    form: Form, answers: Mapping[str, Any], *, today: date
) -> tuple[dict[str, Any], dict[str, int]]:
    """See :meth:`healthhub.protocol.forms.Form.check_submission`."""
    known = {question.id for question in form.questions}
    for key in answers:
        if key not in known:
            raise AnswerInvalid(str(key), "unknown_question", "is not a question of this form")
    checked: dict[str, Any] = {}
    for page in form.pages:
        page_shown = page.visible(checked)
        for question in page.questions:
            value = answers.get(question.id)
            if page_shown and question.visible(checked):
                normal = check_answer(question, value, today=today)
                if normal is not None:
                    checked[question.id] = normal
            elif is_answered(value):
                raise AnswerInvalid(
                    question.id, "not_shown", "is answered, but the other answers hide it"
                )
    return checked, form.scores_of(checked)
