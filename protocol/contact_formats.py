"""UK postcodes, phone numbers and e-mail addresses as patients type them, checked and tidied.

A form question can ask for one of these (``format: uk_postcode``). The answer is checked here
while the patient is still at the kiosk, so a slip of the finger is caught at once instead of
weeks later when a letter comes back; and it reaches the practice in one spelling, so staff and
their record system never see ``sw1a1aa`` beside ``SW1A 1AA``.

These are checks of *form*, not of existence: a postcode can follow the pattern and not be in
the Royal Mail Postcode Address File, a phone number can be in a valid range and not be in
service. Only the patient can tell; the form shows them what they typed.

A refusal is a :class:`ContactFormatError` whose ``code`` (``bad_postcode``, ``bad_phone``,
``bad_email``) the UI turns into a message in the patient's language. Messages never repeat
what was typed: they are logged.
"""

from __future__ import annotations

import re
from typing import Final

from healthhub.protocol.errors import ProtocolError

CONTACT_PROBLEMS: Final = frozenset({"bad_postcode", "bad_phone", "bad_email"})


class ContactFormatError(ProtocolError):
    """A postcode, phone number or e-mail address that cannot be right; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


# -- postcodes -----------------------------------------------------------------------------

# BS 7666 postcode rules, as the UK Government Data Standards Catalogue (Cabinet Office,
# "Address and personal details: postcode") and Royal Mail's Programmers' Guide give them:
# the outward code is A9, A99, AA9, AA99, A9A or AA9A, the inward code 9AA; the first letter
# is never Q, V or X; the second never I, J or Z; a letter third (A9A) is one of
# ABCDEFGHJKPSTUW; a letter fourth (AA9A) one of ABEHMNPRVWXY; the two inward letters never
# C, I, K, M, O or V. GIR 0AA (the old Girobank) is the one exception still in use.
_FIRST: Final = "A-PR-UWYZ"
_SECOND: Final = "A-HK-Y"
_THIRD: Final = "A-HJKPSTUW"
_FOURTH: Final = "ABEHMNPRVWXY"
_INWARD: Final = "ABD-HJLNP-UW-Z"
_POSTCODE: Final = re.compile(
    rf"GIR0AA|(?:[{_FIRST}][0-9]{{1,2}}|[{_FIRST}][{_SECOND}][0-9]{{1,2}}"
    rf"|[{_FIRST}][0-9][{_THIRD}]|[{_FIRST}][{_SECOND}][0-9][{_FOURTH}])[0-9][{_INWARD}]{{2}}"
)


def uk_postcode(text: str) -> str:
    """``text`` as a UK postcode in capitals with one space before the inward code
    (``sw1a1aa`` -> ``SW1A 1AA``); :class:`ContactFormatError` ``bad_postcode`` if it cannot be
    one by the BS 7666 rules above."""
    compact = "".join(text.split()).upper()
    if not _POSTCODE.fullmatch(compact):
        raise ContactFormatError(
            "bad_postcode", "is not a UK postcode: it looks like SW1A 1AA or M1 1AE"
        )
    return f"{compact[:-3]} {compact[-3:]}"


# -- phone numbers -------------------------------------------------------------------------

# Ofcom, "The National Telephone Numbering Plan" (published under s.56 of the Communications
# Act 2003): which ranges are in use and how many digits follow the leading 0 (the national
# significant number, NSN). First match wins, so longer prefixes come first.
#   01, 02   geographic numbers: NSN of 10 digits; in Brampton (016977) also 9, the one area
#            code with 4-digit local numbers beside 5-digit ones
#   03       non-geographic numbers charged as geographic ones
#   07       070 personal numbering, 071-075 and 077-079 mobile, 076 radiopaging (07624:
#            Isle of Man mobile)
#   0800     freephone, NSN of 9 or 10 digits; 0808 freephone, 10 digits; the rest of 080
#            is not allocated
#   084, 087 special services; 09 premium rate services
# Anything else (04, 05, 06, 0500, 0801-0807, ...) is refused, as is any other length.
_RANGES: Final[tuple[tuple[str, frozenset[int]], ...]] = (
    ("016977", frozenset({9, 10})),
    ("01", frozenset({10})),
    ("02", frozenset({10})),
    ("03", frozenset({10})),
    ("07", frozenset({10})),
    ("0800", frozenset({9, 10})),
    ("0808", frozenset({10})),
    ("084", frozenset({10})),
    ("087", frozenset({10})),
    ("09", frozenset({10})),
)
# What people put between the digits: spaces, hyphens, brackets ("(020) 7946 0123",
# "+44 (0)7700 900123").
_SEPARATORS: Final = re.compile(r"[\s()\-]")
_DIGITS: Final = re.compile(r"[0-9]+")


def _national(compact: str) -> str:
    """The national form (leading 0) of a number without separators."""
    for international in ("+44", "0044"):
        if compact.startswith(international):
            rest = compact.removeprefix(international)
            # "+44 (0)20 ..." keeps the trunk 0 in brackets; it is not dialled from abroad.
            return "0" + rest.removeprefix("0")
    if compact.startswith(("+", "00")):
        raise ContactFormatError(
            "bad_phone", "is not a UK number: only UK numbers (+44 or 0...) can be used"
        )
    if not compact.startswith("0"):
        raise ContactFormatError(
            "bad_phone", "is not a UK phone number: it starts with 0, like 07700 900123"
        )
    return compact


def uk_phone(text: str) -> str:
    """``text`` as a UK phone number in national form, digits only (``+44 7700 900123`` ->
    ``07700900123``); :class:`ContactFormatError` ``bad_phone`` if it is not in a range the
    Numbering Plan above uses, or has the wrong number of digits.

    Digits only, without spaces, because how a number is grouped depends on its area code
    (020 7946 0123, 0113 496 0123, 01697 73 123) and the record system files digits; the UI
    groups them for display if it wants to."""
    national = _national(_SEPARATORS.sub("", text.strip()))
    if not _DIGITS.fullmatch(national):
        raise ContactFormatError(
            "bad_phone", "is not a phone number: use digits, spaces and + only"
        )
    nsn_length = len(national) - 1
    for prefix, lengths in _RANGES:
        if national.startswith(prefix):
            if nsn_length not in lengths:
                raise ContactFormatError(
                    "bad_phone",
                    "has too few or too many digits: UK numbers have 11 digits with the 0",
                )
            return national
    raise ContactFormatError(
        "bad_phone", "is not in a UK range that can be called (01, 02, 03, 07, 080, 084, 087, 09)"
    )


# -- e-mail addresses ----------------------------------------------------------------------

# RFC 5322 section 3.2.3: the characters of an atom ("atext"); a dot-atom local part is atoms
# joined by single dots. Quoted local parts ("john smith"@...) and address literals
# (user@[192.0.2.1]) are valid too but no patient's address uses them, and a UI that accepts
# them invites typing slips, so they are refused. Non-ASCII addresses (RFC 6531) likewise.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL_PART: Final = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# A domain label: letters, digits and hyphens, not at either end, at most 63 (RFC 1035 2.3.4,
# RFC 5321 4.5.3.1.2). A top-level domain is letters (uk, com) or an IDN A-label (xn--...).
_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TOP_LEVEL: Final = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
#: RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets.
MAX_EMAIL_CHARS: Final = 254
#: RFC 5321 4.5.3.1.1.
MAX_LOCAL_PART_CHARS: Final = 64


def email(text: str) -> str:
    """``text`` as an e-mail address with its domain in lower case (the local part is left as
    typed: RFC 5321 2.4 lets a mail server treat it case by case); :class:`ContactFormatError`
    ``bad_email`` if it cannot be one."""
    address = text.strip()
    if len(address) > MAX_EMAIL_CHARS:
        raise ContactFormatError(
            "bad_email", f"is too long for an e-mail address (at most {MAX_EMAIL_CHARS})"
        )
    local, _, domain = address.partition("@")
    if address.count("@") != 1:
        raise ContactFormatError(
            "bad_email", "is not an e-mail address: it has one @, like name@example.co.uk"
        )
    if len(local) > MAX_LOCAL_PART_CHARS or not _LOCAL_PART.fullmatch(local):
        raise ContactFormatError(
            "bad_email", "has a name before the @ that an e-mail address cannot have"
        )
    labels = domain.split(".")
    if (
        len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or not _TOP_LEVEL.fullmatch(labels[-1])
    ):
        raise ContactFormatError(
            "bad_email", "has a domain after the @ that cannot be right, like example.co.uk"
        )
    return f"{local}@{domain.lower()}"
