"""Postcodes, phone numbers and e-mail addresses: real ones are tidied, wrong ones refused.

Phone numbers are from Ofcom's ranges reserved for drama (07700 900xxx, 020 7946 0xxx,
0113 496 0xxx, 0808 157 0xxx), so none of them rings anyone.
"""

from __future__ import annotations

import pytest

from healthhub.protocol.contact_formats import ContactFormatError, email, uk_phone, uk_postcode

# Every part within its own limit, the whole over RFC 5321's 254.
TOO_LONG_EMAIL = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 59}.com"


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("SW1A 1AA", "SW1A 1AA"),  # AA9A 9AA
        ("sw1a1aa", "SW1A 1AA"),
        ("  ec1a 1bb ", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),  # A9A 9AA
        ("M1 1AE", "M1 1AE"),  # A9 9AA
        ("B33 8TH", "B33 8TH"),  # A99 9AA
        ("CR2 6XH", "CR2 6XH"),  # AA9 9AA
        ("DN55 1PT", "DN55 1PT"),  # AA99 9AA
        ("GIR 0AA", "GIR 0AA"),
        ("gir0aa", "GIR 0AA"),
    ],
)
def test_real_postcodes_are_written_in_capitals_with_one_space(typed: str, normal: str) -> None:
    assert uk_postcode(typed) == normal


@pytest.mark.parametrize(
    "typed",
    [
        "SW1A",  # the outward code alone
        "12345",
        "QV1 1AA",  # Q never comes first
        "VA1 1AA",  # nor V
        "XA1 1AA",  # nor X
        "AI1 1AA",  # I never comes second
        "SW1A 1A",  # inward code cut short
        "W1A 1AAA",
        "W1I 1AA",  # I is not a third letter (A9A)
        "EC1C 1BB",  # C is not a fourth letter (AA9A)
        "M1 1AC",  # C, I, K, M, O, V never in the inward code
        "M1 1OA",
        "",
        "SW1A-1AA",
    ],
)
def test_wrong_postcodes_are_refused(typed: str) -> None:
    with pytest.raises(ContactFormatError) as caught:
        uk_postcode(typed)
    assert caught.value.code == "bad_postcode"


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("07700 900123", "07700900123"),
        ("+44 7700 900123", "07700900123"),
        ("0044 7700 900123", "07700900123"),
        ("+44 (0)7700 900123", "07700900123"),
        ("07700-900-123", "07700900123"),
        ("(020) 7946 0123", "02079460123"),
        ("0113 496 0123", "01134960123"),
        ("0808 157 0000", "08081570000"),
        ("0800 123 456", "0800123456"),  # the older 9-digit freephone numbers
        ("0800 123 4567", "08001234567"),
        ("0300 123 4567", "03001234567"),
        ("0345 678 9012", "03456789012"),
        ("0870 123 4567", "08701234567"),
        ("0909 123 4567", "09091234567"),
        ("07624 123456", "07624123456"),  # Isle of Man mobile
        ("016977 3123", "0169773123"),  # Brampton: 4-digit local numbers
        ("016977 31234", "01697731234"),
    ],
)
def test_uk_phone_numbers_come_back_as_national_digits(typed: str, normal: str) -> None:
    assert uk_phone(typed) == normal


@pytest.mark.parametrize(
    "typed",
    [
        "0770090012",  # a digit short
        "077009001234",  # a digit over
        "0600 123 4567",  # 06 is not in use
        "0400 123 4567",
        "0500 123 456",  # 0500 freephone was withdrawn in 2017
        "0801 123 4567",  # 080 beyond 0800 and 0808 is not allocated
        "0808 123 456",  # 0808 has 10 digits after the 0
        "0113 496 012",  # geographic numbers too
        "12345",
        "+33 1 23 45 67 89",  # France
        "0033 1 23 45 67 89",
        "0770O 900123",  # a letter O
        "phone me",
        "",
    ],
)
def test_wrong_phone_numbers_are_refused(typed: str) -> None:
    with pytest.raises(ContactFormatError) as caught:
        uk_phone(typed)
    assert caught.value.code == "bad_phone"


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("someone@example.co.uk", "someone@example.co.uk"),
        ("  Jo.Bloggs@Example.NHS.net ", "Jo.Bloggs@example.nhs.net"),  # domain only lowered
        ("first.last+kiosk@mail.example.org", "first.last+kiosk@mail.example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a_b-c@sub-domain.example.com", "a_b-c@sub-domain.example.com"),
        ("x@example.xn--p1ai", "x@example.xn--p1ai"),  # an IDN top-level domain
        (f"{'a' * 64}@example.com", f"{'a' * 64}@example.com"),
    ],
)
def test_email_addresses_keep_their_local_part_and_lower_the_domain(
    typed: str, normal: str
) -> None:
    assert email(typed) == normal


@pytest.mark.parametrize(
    "typed",
    [
        "someone.example.com",  # no @
        "a@b@example.com",  # two
        "@example.com",
        "someone@",
        "some..one@example.com",  # a double dot
        ".someone@example.com",
        "someone.@example.com",
        "someone@example",  # no top-level domain
        "someone@example.c",  # a one-letter one
        "someone@example.123",
        "someone@-example.com",
        "someone@example..com",
        "some one@example.com",  # a space
        "someone@exa mple.com",
        '"some one"@example.com',  # quoted local parts are refused
        "someone@[192.0.2.1]",
        f"{'a' * 65}@example.com",  # local part over 64
        f"someone@{'a' * 64}.com",  # a label over 63
        TOO_LONG_EMAIL,
        "",
    ],
)
def test_wrong_email_addresses_are_refused(typed: str) -> None:
    with pytest.raises(ContactFormatError) as caught:
        email(typed)
    assert caught.value.code == "bad_email"


def test_an_email_address_may_be_254_characters_and_no_more() -> None:
    longest = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
    assert len(longest) == 254
    assert email(longest) == longest
    assert len(TOO_LONG_EMAIL) == 256
    with pytest.raises(ContactFormatError, match="too long"):
        email(TOO_LONG_EMAIL)
