"""Checking what a patient types to say who they are: an NHS number and a date of birth.

Pure Python (no Kivy). Each failure is a typed error whose ``message`` is an English text
marked with ``N_``; it may hold ``{placeholders}``, filled from ``values`` *after*
translation (``error.text(translator.gettext)`` does both).

NHS number: 10 digits, the tenth a modulus 11 check digit, as the NHS Data Dictionary
defines it ("NHS Number", https://www.datadictionary.nhs.uk/attributes/nhs_number.html):

1. multiply each of the first nine digits by a weight, 10 for the first down to 2 for the
   ninth, and add the results;
2. divide the total by 11 and take the remainder;
3. the check digit is 11 minus the remainder; 11 becomes 0, and 10 means the number is
   not a valid NHS number (no check digit fits);
4. the number is valid when the check digit equals its tenth digit.

Any single mistyped digit and any swap of two neighbouring digits breaks the check (11 is
prime and every weight differs from its neighbour by 1), so a typo is caught. Ten equal
digits ("1111111111") also pass the check (54·d ≡ −d mod 11) but are never issued; they
are what people type when they do not know their number, so they are refused too.
Spaces (and any whitespace) are ignored; digits from other scripts (for example Bengali
or Arabic-Indic) are read as the digits they are.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import MappingProxyType

from healthhub.ui.i18n import N_

__all__ = [
    "BirthDateError",
    "BirthDateProblem",
    "IdentityError",
    "NhsNumberError",
    "NhsNumberProblem",
    "age_on",
    "format_nhs_number",
    "is_valid_nhs_number",
    "nhs_number_check",
    "parse_birth_date",
]

NHS_NUMBER_LENGTH = 10
MAX_AGE_YEARS = 130
_WEIGHTS = range(10, 1, -1)  # 10, 9, ..., 2 for the first nine digits


def _same(text: str) -> str:
    return text


class IdentityError(ValueError):
    """Something the patient typed cannot be right; ``message`` says so, in plain words."""

    def __init__(self, message: str, **values: int | str) -> None:
        super().__init__(message.format(**values))
        self.message = message  # an N_ text; translate it, then .format(**values)
        self.values: Mapping[str, int | str] = MappingProxyType(dict(values))

    def text(self, translate: Callable[[str], str] = _same) -> str:
        """The message translated by ``translate`` and filled in with ``values``."""
        return translate(self.message).format(**self.values)


# --------------------------------------------------------------------------- NHS number


class NhsNumberProblem(enum.StrEnum):
    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    WRONG_LENGTH = "wrong_length"
    NOT_VALID = "not_valid"  # ten digits that fail the check digit (or are all the same)


NHS_EMPTY = N_("Please type your NHS number, or continue without it.")
NHS_NOT_DIGITS = N_("An NHS number only has numbers. Please check it.")
NHS_WRONG_LENGTH = N_("An NHS number has 10 digits. You have typed {typed}.")
NHS_NOT_VALID = N_("This NHS number is not right. Please check it, or continue without it.")

NHS_NUMBER_MESSAGES: Mapping[NhsNumberProblem, str] = MappingProxyType(
    {
        NhsNumberProblem.EMPTY: NHS_EMPTY,
        NhsNumberProblem.NOT_DIGITS: NHS_NOT_DIGITS,
        NhsNumberProblem.WRONG_LENGTH: NHS_WRONG_LENGTH,
        NhsNumberProblem.NOT_VALID: NHS_NOT_VALID,
    }
)


class NhsNumberError(IdentityError):
    """The typed NHS number cannot be right. ``values`` may hold ``typed`` (digits typed)."""

    def __init__(self, problem: NhsNumberProblem, **values: int | str) -> None:
        super().__init__(NHS_NUMBER_MESSAGES[problem], **values)
        self.problem = problem


def _ascii_digits(text: str) -> str | None:
    """``text`` without whitespace, each decimal digit as ASCII; None if anything else is in it."""
    out: list[str] = []
    for char in text:
        if char.isspace():
            continue
        if not char.isdecimal():
            return None
        out.append(str(unicodedata.decimal(char)))
    return "".join(out)


def _check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit for nine digits, or None when no digit fits (result 10)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def nhs_number_check(digits: str) -> str:
    """The NHS number as 10 ASCII digits if it can be right; else raise :class:`NhsNumberError`."""
    number = _ascii_digits(digits)
    if number is None:
        raise NhsNumberError(NhsNumberProblem.NOT_DIGITS)
    if not number:
        raise NhsNumberError(NhsNumberProblem.EMPTY)
    if len(number) != NHS_NUMBER_LENGTH:
        raise NhsNumberError(NhsNumberProblem.WRONG_LENGTH, typed=len(number))
    if _check_digit(number[:9]) != int(number[9]) or len(set(number)) == 1:
        raise NhsNumberError(NhsNumberProblem.NOT_VALID)
    return number


def is_valid_nhs_number(digits: str) -> bool:
    """Whether :func:`nhs_number_check` accepts ``digits``."""
    try:
        nhs_number_check(digits)
    except NhsNumberError:
        return False
    return True


def format_nhs_number(digits: str) -> str:
    """Ten digits as the NHS writes them, 3-3-4: ``"9434765919"`` -> ``"943 476 5919"``."""
    number = _ascii_digits(digits)
    if number is None or len(number) != NHS_NUMBER_LENGTH:
        raise ValueError(f"an NHS number has {NHS_NUMBER_LENGTH} digits: {digits!r}")
    return f"{number[:3]} {number[3:6]} {number[6:]}"


# --------------------------------------------------------------------------- date of birth


class BirthDateProblem(enum.StrEnum):
    MISSING = "missing"
    NOT_NUMBERS = "not_numbers"
    YEAR_NOT_FOUR_DIGITS = "year_not_four_digits"
    NO_SUCH_MONTH = "no_such_month"
    NO_SUCH_DAY = "no_such_day"  # day not 1-31
    DAY_PAST_MONTH_END = "day_past_month_end"  # e.g. 31 April
    NOT_LEAP_YEAR = "not_leap_year"  # 29 February in a year without one
    IN_FUTURE = "in_future"
    TOO_OLD = "too_old"


BIRTH_MISSING = N_("Please type the day, month and year you were born.")
BIRTH_NOT_NUMBERS = N_("Please use numbers for the day, month and year.")
BIRTH_YEAR_DIGITS = N_("Please type the year with 4 numbers, for example 1975.")
BIRTH_NO_SUCH_MONTH = N_("The month must be a number from 1 to 12.")
BIRTH_NO_SUCH_DAY = N_("The day must be a number from 1 to 31.")
BIRTH_PAST_MONTH_END = N_("That month has only {days} days. Please check the day.")
BIRTH_NOT_LEAP_YEAR = N_("There is no 29 February in {year}. Please check the date.")
BIRTH_IN_FUTURE = N_("This date is in the future. Please check the year.")
BIRTH_TOO_OLD = N_("Please check the year. It is more than 130 years ago.")

BIRTH_DATE_MESSAGES: Mapping[BirthDateProblem, str] = MappingProxyType(
    {
        BirthDateProblem.MISSING: BIRTH_MISSING,
        BirthDateProblem.NOT_NUMBERS: BIRTH_NOT_NUMBERS,
        BirthDateProblem.YEAR_NOT_FOUR_DIGITS: BIRTH_YEAR_DIGITS,
        BirthDateProblem.NO_SUCH_MONTH: BIRTH_NO_SUCH_MONTH,
        BirthDateProblem.NO_SUCH_DAY: BIRTH_NO_SUCH_DAY,
        BirthDateProblem.DAY_PAST_MONTH_END: BIRTH_PAST_MONTH_END,
        BirthDateProblem.NOT_LEAP_YEAR: BIRTH_NOT_LEAP_YEAR,
        BirthDateProblem.IN_FUTURE: BIRTH_IN_FUTURE,
        BirthDateProblem.TOO_OLD: BIRTH_TOO_OLD,
    }
)


class BirthDateError(IdentityError):
    """The typed date of birth cannot be right. ``values`` may hold ``days`` or ``year``."""

    def __init__(self, problem: BirthDateProblem, **values: int | str) -> None:
        super().__init__(BIRTH_DATE_MESSAGES[problem], **values)
        self.problem = problem


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _as_day(today: date) -> date:
    return today.date() if isinstance(today, datetime) else today


def age_on(birth: date, today: date) -> int:
    """Whole years from ``birth`` to ``today``.

    Someone born on 29 February has their birthday on 1 March in other years (they are
    still the younger age on 28 February), as is usual in the UK.
    """
    birth, today = _as_day(birth), _as_day(today)
    if birth > today:
        raise ValueError(f"born {birth} is after {today}")
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


def parse_birth_date(day: str, month: str, year: str, *, today: date) -> date:
    """The date of birth typed as day, month and year; :class:`BirthDateError` if impossible.

    The day and month are 1 or 2 digits, the year exactly 4; the date must exist (29
    February only in leap years), not be after ``today``, and give an age of at most 130.
    """
    today = _as_day(today)
    parts = [_ascii_digits(part) for part in (day, month, year)]
    if any(part == "" for part in parts):
        raise BirthDateError(BirthDateProblem.MISSING)
    day_text, month_text, year_text = parts
    if day_text is None or month_text is None or year_text is None:
        raise BirthDateError(BirthDateProblem.NOT_NUMBERS)
    if len(year_text) != 4:
        raise BirthDateError(BirthDateProblem.YEAR_NOT_FOUR_DIGITS)
    number_year = int(year_text)
    if len(month_text) > 2 or not 1 <= int(month_text) <= 12:
        raise BirthDateError(BirthDateProblem.NO_SUCH_MONTH)
    number_month = int(month_text)
    if len(day_text) > 2 or not 1 <= int(day_text) <= 31:
        raise BirthDateError(BirthDateProblem.NO_SUCH_DAY)
    number_day = int(day_text)
    if number_year < 1:  # year 0000: no such calendar year, and far too long ago
        raise BirthDateError(BirthDateProblem.TOO_OLD)
    if number_month == 2 and number_day == 29 and not _is_leap(number_year):
        raise BirthDateError(BirthDateProblem.NOT_LEAP_YEAR, year=year_text)
    days = _days_in(number_month, number_year)
    if number_day > days:
        raise BirthDateError(BirthDateProblem.DAY_PAST_MONTH_END, days=days)
    born = date(number_year, number_month, number_day)
    if born > today:
        raise BirthDateError(BirthDateProblem.IN_FUTURE)
    if age_on(born, today) > MAX_AGE_YEARS:
        raise BirthDateError(BirthDateProblem.TOO_OLD)
    return born
