"""The check of one answer to one question: in range, in format, one of the options.

:func:`check_answer` returns the answer in its normal form (a postcode in capitals, a number as
an int when it has no decimals) or raises :class:`AnswerInvalid` whose ``code`` (one of
:data:`ANSWER_PROBLEMS`) the UI turns into a message in the patient's language. Messages
never contain the answer itself: they are logged, and an answer can be anything a patient
typed. Dates in a form (``earliest: -120y``) are resolved against the day the form is filled
in. Part of the forms engine (:mod:`healthhub.protocol.forms`, which re-exports these names).
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from healthhub.protocol import contact_formats
from healthhub.protocol.contact_formats import ContactFormatError
from healthhub.protocol.errors import ProtocolError

if TYPE_CHECKING:
    from healthhub.protocol.form_model import Question

ANSWER_PROBLEMS: Final = frozenset(
    {
        "required",
        "not_an_option",
        "out_of_range",
        "too_precise",
        "too_long",
        "not_a_number",
        "not_a_date",
        "too_early",
        "too_late",
        "bad_postcode",
        "bad_phone",
        "bad_email",
        "not_shown",
        "unknown_question",
    }
)

#: ``format:`` of a text question -> the function that checks and normalises its answer.
TEXT_FORMATTERS: Final[Mapping[str, Callable[[str], str]]] = {
    "uk_postcode": contact_formats.uk_postcode,
    "uk_phone": contact_formats.uk_phone,
    "email": contact_formats.email,
}


class AnswerInvalid(ProtocolError):
    """An answer a question cannot take; ``question`` is its id, ``code`` one of
    :data:`ANSWER_PROBLEMS`."""

    def __init__(self, question: str, code: str, message: str) -> None:
        self.question = question
        self.code = code
        self.message = message
        super().__init__(f"{question}: {message}")


def is_answered(value: Any) -> bool:
    """Whether ``value`` is an answer: not missing, not blank text, not an empty choice.
    ``False`` (a "no") and ``0`` are answers."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return bool(value)
    return True


# -- dates ---------------------------------------------------------------------------------

_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_OFFSET: Final = re.compile(r"([+-])([0-9]{1,5})([dwmy])")
# At most 200 years either way: further is no date a patient gives, and it keeps every
# offset inside the years a date can hold.
_OFFSET_LIMITS: Final = {"d": 73_050, "w": 10_436, "m": 2_400, "y": 200}


def iso_date(text: str) -> date:
    """``YYYY-MM-DD`` as a date, strictly (``date.fromisoformat`` also takes ``20250131``)."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("not a date written YYYY-MM-DD")
    return date.fromisoformat(text)


def _add_months(day: date, months: int) -> date:
    """``day`` moved by ``months``, on the last day of the month when it has fewer days
    (31 March - 1 month is 28 or 29 February)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def resolve_date(spec: str, today: date) -> date:
    """The date a form's ``earliest``/``latest`` names on ``today``: ``today``, an ISO date
    (``2025-01-31``) or an offset from today (``-120y``, ``-30d``, ``+2w``, ``+6m``).
    ValueError if ``spec`` is none of these."""
    if spec == "today":
        return today
    match = _OFFSET.fullmatch(spec)
    if match is None:
        return iso_date(spec)
    sign, digits, unit = match.groups()
    count = int(digits)
    if count > _OFFSET_LIMITS[unit]:
        raise ValueError("an offset of more than 200 years")
    count = -count if sign == "-" else count
    if unit in "dw":
        return today + timedelta(days=count * (7 if unit == "w" else 1))
    return _add_months(today, count * (12 if unit == "y" else 1))


# -- answers -------------------------------------------------------------------------------


def check_answer(question: Question, value: Any, *, today: date) -> Any:
    """``value`` as an answer to ``question``, in its normal form; None for no answer to a
    question that need not be answered. :class:`AnswerInvalid` if it cannot be the answer:

    - single: one of the option values (str); multiple: a list of distinct option values,
      returned in the order of the options;
    - number: an int or float (or its text, as a keypad gives it: ``"72.5"``) within
      ``min``..``max`` with at most ``decimals`` decimals, returned as an int when
      ``decimals`` is 0;
    - date: ``YYYY-MM-DD`` between ``earliest`` and ``latest`` as they fall on ``today``;
    - text: stripped, at most ``max_length`` characters, normalised by its ``format``;
    - yes_no: True or False.
    """
    if not is_answered(value):
        if question.required:
            raise AnswerInvalid(question.id, "required", "needs an answer")
        return None
    return _CHECKS[question.type](question, value, today)


def _wrong_kind(question: Question, expected: str) -> AnswerInvalid:
    return AnswerInvalid(question.id, "not_an_option", f"must be {expected}")


def _single(question: Question, value: Any, today: date) -> str:
    if not isinstance(value, str) or value not in question.option_values:
        raise _wrong_kind(question, "one of its options")
    return value


def _multiple(question: Question, value: Any, today: date) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _wrong_kind(question, "a list of its options")
    if not all(isinstance(item, str) and item in question.option_values for item in value):
        raise _wrong_kind(question, "a list of its options")
    if len(set(value)) != len(value):
        raise _wrong_kind(question, "a list of its options, each chosen once")
    return [option.value for option in question.options if option.value in value]


_NUMBER_TEXT: Final = re.compile(r"[+-]?[0-9]{1,12}(?:\.[0-9]+)?")


def _decimal(question: Question, value: Any) -> Decimal:
    """A number answer as an exact decimal, as typed (so ``72.50`` has two decimals)."""
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        # repr of a float is the shortest text that reads back as it: 72.5, not 72.500001.
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    raise AnswerInvalid(question.id, "not_a_number", "must be a number")


def _number_answer(question: Question, value: Any, today: date) -> int | float:
    number = _decimal(question, value)
    low, high = question.min, question.max
    if low is not None and high is not None and not low <= number <= high:
        raise AnswerInvalid(question.id, "out_of_range", f"must be from {low:g} to {high:g}")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > question.decimals:
        raise AnswerInvalid(
            question.id, "too_precise", f"can have at most {question.decimals} decimals"
        )
    return int(number) if question.decimals == 0 else float(number)


def _day(question: Question, value: Any) -> date:
    # datetime is a date too; a time of day is not what a date question asks.
    if type(value) is date:
        return value
    if isinstance(value, str):
        try:
            return iso_date(value.strip())
        except ValueError:
            pass
    raise AnswerInvalid(question.id, "not_a_date", "must be a date, YYYY-MM-DD")


def _date_answer(question: Question, value: Any, today: date) -> str:
    day = _day(question, value)
    if question.earliest is not None and day < resolve_date(question.earliest, today):
        raise AnswerInvalid(question.id, "too_early", "is earlier than the form allows")
    if question.latest is not None and day > resolve_date(question.latest, today):
        raise AnswerInvalid(question.id, "too_late", "is later than the form allows")
    return day.isoformat()


def _text_answer(question: Question, value: Any, today: date) -> str:
    if not isinstance(value, str):
        raise _wrong_kind(question, "a text")
    text = value.strip()
    if len(text) > question.max_length:
        raise AnswerInvalid(
            question.id, "too_long", f"can be at most {question.max_length} characters"
        )
    if question.format is None:
        return text
    try:
        return TEXT_FORMATTERS[question.format](text)
    except ContactFormatError as exc:
        raise AnswerInvalid(question.id, exc.code, exc.message) from None


def _yes_no(question: Question, value: Any, today: date) -> bool:
    if not isinstance(value, bool):
        raise _wrong_kind(question, "yes (true) or no (false)")
    return value


_CHECKS: Final[Mapping[str, Callable[[Question, Any, date], Any]]] = {
    "single": _single,
    "multiple": _multiple,
    "number": _number_answer,
    "date": _date_answer,
    "text": _text_answer,
    "yes_no": _yes_no,
}
