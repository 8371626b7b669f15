"""NHS number (modulus 11, NHS Data Dictionary) and date of birth, with the patient's messages."""

from __future__ import annotations

import ast
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from healthhub.ui import identity
from healthhub.ui.identity import (
    BirthDateError,
    BirthDateProblem,
    NhsNumberError,
    NhsNumberProblem,
)

REPO = Path(__file__).resolve().parents[2]
FAST = settings(max_examples=300, derandomize=True, deadline=None)
TODAY = date(2026, 3, 15)

# Checked by hand with the Data Dictionary's algorithm (weights 10..2, 11 - sum mod 11):
# 9434765919: 9*10+4*9+3*8+4*7+7*6+6*5+5*4+9*3+1*2 = 299, 299 mod 11 = 2, 11-2 = 9.
# 4010232137: 4*10+0+1*8+0+2*6+3*5+2*4+1*3+3*2 = 92, 92 mod 11 = 4, 11-4 = 7.
VALID = ["9434765919", "4010232137", "4505577104", "6541003238", "9990000018"]


def _valid_completions(first_nine: str) -> list[str]:
    return [n for n in (first_nine + str(d) for d in range(10)) if identity.is_valid_nhs_number(n)]


# --------------------------------------------------------------------------- NHS number


@pytest.mark.parametrize("number", VALID)
def test_known_valid_nhs_numbers(number: str) -> None:
    assert identity.nhs_number_check(number) == number


@pytest.mark.parametrize(
    "typed", ["943 476 5919", " 9434765919 ", "94 34 76 59 19", "943\u00a0476\u00a05919"]
)
def test_spaces_are_ignored(typed: str) -> None:
    assert identity.nhs_number_check(typed) == "9434765919"


def test_digits_from_other_scripts_are_read_as_digits() -> None:
    bengali = "৯৪৩৪৭৬৫৯১৯"
    arabic_indic = "٩٤٣٤٧٦٥٩١٩"
    assert identity.nhs_number_check(bengali) == "9434765919"
    assert identity.nhs_number_check(arabic_indic) == "9434765919"


@pytest.mark.parametrize(("typed", "count"), [("943476591", 9), ("94347659190", 11), ("9", 1)])
def test_wrong_length_says_how_many_digits_were_typed(typed: str, count: int) -> None:
    with pytest.raises(NhsNumberError) as caught:
        identity.nhs_number_check(typed)
    assert caught.value.problem is NhsNumberProblem.WRONG_LENGTH
    assert caught.value.message == "An NHS number has 10 digits. You have typed {typed}."
    assert caught.value.text() == f"An NHS number has 10 digits. You have typed {count}."


@pytest.mark.parametrize("typed", ["", "   "])
def test_nothing_typed(typed: str) -> None:
    with pytest.raises(NhsNumberError) as caught:
        identity.nhs_number_check(typed)
    assert caught.value.problem is NhsNumberProblem.EMPTY


@pytest.mark.parametrize("typed", ["943476591O", "943-476-5919", "NHS9434765919", "9434765919."])
def test_anything_but_digits_and_spaces_is_refused(typed: str) -> None:
    with pytest.raises(NhsNumberError) as caught:
        identity.nhs_number_check(typed)
    assert caught.value.problem is NhsNumberProblem.NOT_DIGITS


@pytest.mark.parametrize("typed", ["9434765918", "9434765910", "4010232138", "4010232317"])
def test_wrong_check_digit_is_refused(typed: str) -> None:
    with pytest.raises(NhsNumberError) as caught:
        identity.nhs_number_check(typed)
    assert caught.value.problem is NhsNumberProblem.NOT_VALID
    assert caught.value.text() == (
        "This NHS number is not right. Please check it, or continue without it."
    )


def test_nine_digits_whose_check_would_be_10_have_no_valid_number() -> None:
    # 1*10+2*9+3*8+4*7+5*6+6*5+7*4+8*3+9*2 = 210; 210 mod 11 = 1; 11 - 1 = 10: invalid.
    assert _valid_completions("123456789") == []
    # 0*10+...+0*3+1*2 = 2; 11 - 2 = 9
    assert _valid_completions("000000001") == ["0000000019"]
    # 1*9+1*2 = 11; 11 mod 11 = 0; 11 - 0 = 11, which becomes a check digit of 0
    assert _valid_completions("010000001") == ["0100000010"]


@pytest.mark.parametrize("digit", "0123456789")
def test_ten_equal_digits_are_refused(digit: str) -> None:
    number = digit * 10
    weighted = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    assert (11 - weighted % 11) % 11 == int(digit)  # they pass modulus 11 ...
    with pytest.raises(NhsNumberError) as caught:  # ... but are never issued
        identity.nhs_number_check(number)
    assert caught.value.problem is NhsNumberProblem.NOT_VALID


@FAST
@given(st.text("0123456789", min_size=9, max_size=9))
def test_at_most_one_tenth_digit_fits_any_nine_digits(first_nine: str) -> None:
    assert len(_valid_completions(first_nine)) <= 1


@FAST
@given(
    st.text("0123456789", min_size=9, max_size=9),
    st.integers(0, 9),
    st.integers(1, 9),
)
def test_any_single_mistyped_digit_is_caught(first_nine: str, position: int, shift: int) -> None:
    completions = _valid_completions(first_nine)
    assume(completions)
    (number,) = completions
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    assert not identity.is_valid_nhs_number(wrong)


@FAST
@given(st.text("0123456789", min_size=9, max_size=9), st.integers(0, 8))
def test_swapping_neighbouring_digits_is_caught(first_nine: str, position: int) -> None:
    completions = _valid_completions(first_nine)
    assume(completions)
    (number,) = completions
    assume(number[position] != number[position + 1])
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assert not identity.is_valid_nhs_number(swapped)


@FAST
@given(st.sampled_from(VALID), st.lists(st.integers(0, 10), max_size=6))
def test_spaces_anywhere_do_not_change_the_number(number: str, cuts: list[int]) -> None:
    typed = number
    for cut in sorted(set(cuts), reverse=True):
        typed = typed[:cut] + " " + typed[cut:]
    assert identity.nhs_number_check(typed) == number


@FAST
@given(st.sampled_from(VALID), st.integers(1, 9))
def test_a_whole_number_shifted_by_one_place_is_caught(number: str, rotate: int) -> None:
    rotated = number[rotate:] + number[:rotate]
    assume(rotated != number)
    # a rotation can by chance be valid; it must never be accepted as *this* number
    if identity.is_valid_nhs_number(rotated):
        assert identity.nhs_number_check(rotated) != number
    dropped_first = number[1:]
    with pytest.raises(NhsNumberError):
        identity.nhs_number_check(dropped_first)


def test_format_nhs_number() -> None:
    assert identity.format_nhs_number("9434765919") == "943 476 5919"
    assert identity.format_nhs_number("943 476 5919") == "943 476 5919"
    assert identity.format_nhs_number("4010232137") == "401 023 2137"
    for bad in ("943476591", "94347659190", "94347659l9", ""):
        with pytest.raises(ValueError):
            identity.format_nhs_number(bad)


def test_message_is_translated_before_it_is_filled_in() -> None:
    catalogue = {identity.NHS_WRONG_LENGTH: "Numer NHS ma 10 cyfr. Wpisano {typed}."}
    with pytest.raises(NhsNumberError) as caught:
        identity.nhs_number_check("12345")
    assert caught.value.text(lambda s: catalogue.get(s, s)) == "Numer NHS ma 10 cyfr. Wpisano 5."
    assert str(caught.value) == "An NHS number has 10 digits. You have typed 5."
    assert isinstance(caught.value, ValueError)


# --------------------------------------------------------------------------- date of birth


@pytest.mark.parametrize(
    ("day", "month", "year", "born"),
    [
        ("1", "1", "1970", date(1970, 1, 1)),
        ("01", "01", "1970", date(1970, 1, 1)),
        (" 7 ", "9", "1985", date(1985, 9, 7)),
        ("31", "12", "1999", date(1999, 12, 31)),
        ("29", "2", "2000", date(2000, 2, 29)),  # divisible by 400: a leap year
        ("29", "02", "2024", date(2024, 2, 29)),
        ("30", "4", "1960", date(1960, 4, 30)),
        ("15", "3", "2026", TODAY),  # born today
        ("১৫", "৩", "১৯৭০", date(1970, 3, 15)),  # Bengali digits
    ],
)
def test_valid_birth_dates(day: str, month: str, year: str, born: date) -> None:
    assert identity.parse_birth_date(day, month, year, today=TODAY) == born


@pytest.mark.parametrize(
    ("day", "month", "year", "problem", "text"),
    [
        ("29", "2", "1900", BirthDateProblem.NOT_LEAP_YEAR, "There is no 29 February in 1900."),
        ("29", "2", "2023", BirthDateProblem.NOT_LEAP_YEAR, "There is no 29 February in 2023."),
        ("29", "2", "1999", BirthDateProblem.NOT_LEAP_YEAR, "There is no 29 February in 1999."),
        ("30", "2", "2000", BirthDateProblem.DAY_PAST_MONTH_END, "That month has only 29 days."),
        ("31", "4", "1980", BirthDateProblem.DAY_PAST_MONTH_END, "That month has only 30 days."),
        ("31", "6", "1980", BirthDateProblem.DAY_PAST_MONTH_END, "That month has only 30 days."),
        ("31", "9", "1980", BirthDateProblem.DAY_PAST_MONTH_END, "That month has only 30 days."),
        ("31", "11", "1980", BirthDateProblem.DAY_PAST_MONTH_END, "That month has only 30 days."),
        ("0", "5", "1980", BirthDateProblem.NO_SUCH_DAY, "The day must be"),
        ("32", "5", "1980", BirthDateProblem.NO_SUCH_DAY, "The day must be"),
        ("005", "5", "1980", BirthDateProblem.NO_SUCH_DAY, "The day must be"),
        ("5", "0", "1980", BirthDateProblem.NO_SUCH_MONTH, "The month must be"),
        ("5", "13", "1980", BirthDateProblem.NO_SUCH_MONTH, "The month must be"),
        ("5", "5", "80", BirthDateProblem.YEAR_NOT_FOUR_DIGITS, "4 numbers"),
        ("5", "5", "19800", BirthDateProblem.YEAR_NOT_FOUR_DIGITS, "4 numbers"),
        ("", "5", "1980", BirthDateProblem.MISSING, "Please type the day"),
        ("5", " ", "1980", BirthDateProblem.MISSING, "Please type the day"),
        ("5", "5", "", BirthDateProblem.MISSING, "Please type the day"),
        ("5", "May", "1980", BirthDateProblem.NOT_NUMBERS, "Please use numbers"),
        ("5th", "5", "1980", BirthDateProblem.NOT_NUMBERS, "Please use numbers"),
        ("16", "3", "2026", BirthDateProblem.IN_FUTURE, "in the future"),
        ("1", "1", "2027", BirthDateProblem.IN_FUTURE, "in the future"),
        ("15", "3", "1895", BirthDateProblem.TOO_OLD, "more than 130 years"),
        ("1", "1", "0000", BirthDateProblem.TOO_OLD, "more than 130 years"),
    ],
)
def test_impossible_birth_dates_say_what_is_wrong(
    day: str, month: str, year: str, problem: BirthDateProblem, text: str
) -> None:
    with pytest.raises(BirthDateError) as caught:
        identity.parse_birth_date(day, month, year, today=TODAY)
    assert caught.value.problem is problem
    assert text in caught.value.text()
    assert "{" not in caught.value.text()


def test_age_limit_is_130_years() -> None:
    # born 16 March 1895: 130 today, 131 tomorrow; born a day earlier: 131 today
    oldest = identity.parse_birth_date("16", "3", "1895", today=TODAY)
    assert identity.age_on(oldest, TODAY) == 130
    with pytest.raises(BirthDateError) as caught:
        identity.parse_birth_date("15", "3", "1895", today=TODAY)
    assert caught.value.problem is BirthDateProblem.TOO_OLD


def test_today_may_be_a_datetime() -> None:
    now = datetime(2026, 3, 15, 9, 30)
    assert identity.parse_birth_date("15", "3", "1970", today=now) == date(1970, 3, 15)


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (date(1970, 3, 15), date(2026, 3, 14), 55),
        (date(1970, 3, 15), date(2026, 3, 15), 56),
        (date(2000, 2, 29), date(2001, 2, 28), 0),  # a leap-day birthday is 1 March
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
        (date(2000, 12, 31), date(2001, 1, 1), 0),
        (TODAY, TODAY, 0),
    ],
)
def test_age_on(birth: date, today: date, age: int) -> None:
    assert identity.age_on(birth, today) == age


def test_age_on_refuses_a_birth_after_today() -> None:
    with pytest.raises(ValueError):
        identity.age_on(date(2030, 1, 1), TODAY)


@FAST
@given(st.dates(date(1895, 3, 16), TODAY), st.booleans())
def test_any_real_date_in_range_is_read_back(born: date, padded: bool) -> None:
    day, month = (
        (f"{born.day:02}", f"{born.month:02}") if padded else (str(born.day), str(born.month))
    )
    assert identity.parse_birth_date(day, month, f"{born.year:04}", today=TODAY) == born


@FAST
@given(st.dates(date(1900, 1, 1), date(2030, 12, 31)), st.integers(0, 60000))
def test_age_rises_by_one_on_each_birthday_and_never_falls(born: date, days: int) -> None:
    today = born + timedelta(days=days)
    age = identity.age_on(born, today)
    yesterday = identity.age_on(born, today - timedelta(days=1)) if days else 0
    assert age - yesterday in (0, 1)
    assert age <= days / 365 + 1
    assert age >= (days - 1) // 366


# --------------------------------------------------------------------------- texts


def test_every_message_is_marked_for_translation_and_plain() -> None:
    marked: set[str] = set()
    source = (REPO / "ui" / "identity.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
            (arg,) = node.args
            assert isinstance(arg, ast.Constant)
            assert isinstance(arg.value, str)
            marked.add(arg.value)
    messages = {*identity.NHS_NUMBER_MESSAGES.values(), *identity.BIRTH_DATE_MESSAGES.values()}
    assert set(identity.NHS_NUMBER_MESSAGES) == set(NhsNumberProblem)
    assert set(identity.BIRTH_DATE_MESSAGES) == set(BirthDateProblem)
    assert messages <= marked
    for message in messages:
        assert len(message) <= 90, message
        assert "!" not in message, message
