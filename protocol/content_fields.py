"""What the patient content documents share: reading one, its field types, and its error.

The documents of a content folder (``info/*.yaml``, ``services.yaml``, ``support.yaml``,
``notices.yaml``; :mod:`healthhub.protocol.patient_content`) are YAML written by practice and
IT staff in a text editor, read as staff mean them (:mod:`healthhub.protocol.yaml_documents`).

Pictures and audio are named by a path relative to the top of the content folder
(``pictures/blood-pressure.png``), checked by :func:`healthhub.protocol.content.check_path`
(no ``..``, nothing absolute or hidden), to exist, to stay inside the folder, and to begin
with the bytes of the format their name claims: a JPEG renamed ``.png`` would otherwise
reach a patient as a blank square.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit

from healthhub.protocol.content import ContentRejected, check_path
from healthhub.protocol.texts import LANGUAGE_TAG, DocumentInvalid, Text, parse_text
from healthhub.protocol.yaml_documents import read_yaml_document

#: A QR code of a longer address is too dense to scan from a kiosk screen.
MAX_URL_CHARS: Final = 300
#: A picture is decoded on a Raspberry Pi while a patient waits.
MAX_PICTURE_BYTES: Final = 4 * 1024 * 1024
#: About ten minutes of speech as 16-bit mono WAV at 16 kHz.
MAX_AUDIO_BYTES: Final = 20 * 1024 * 1024

MediaKind = Literal["picture", "audio"]
_P = ParamSpec("_P")
_R = TypeVar("_R")


class ContentInvalid(DocumentInvalid):
    """A fault in patient content other than a form (those raise ``FormInvalid``); ``path``
    names the file and the place inside it: ``services.yaml: services[3].category``."""


# -- reading -------------------------------------------------------------------------------


def read_document(folder: Path, name: str) -> Any:
    """The YAML document at ``folder / name`` (``name`` as staff see it: ``info/bmi.yaml``).
    Anything that stops it being read is a :class:`ContentInvalid` naming the file."""
    return read_yaml_document(folder / name, name, ContentInvalid)


# -- field types ---------------------------------------------------------------------------


def one_line(value: Any, path: str, *, max_chars: int) -> Text:
    """A :class:`Text` of one line in every language (a title, a summary, a list entry)."""
    text = parse_text(value, path, max_chars=max_chars)
    for code, line in text.values.items():
        if "\n" in line:
            raise ContentInvalid(f"{path}.{code}", "must be one line")
    return text


def plain_string(value: Any, path: str, *, max_chars: int) -> str:
    """A single-line string that is not a translated text (a citation, a phone number)."""
    if not isinstance(value, str) or not value.strip():
        raise ContentInvalid(path, "must be a text that is not empty")
    if len(value) > max_chars or "\n" in value.strip():
        raise ContentInvalid(path, f"must be one line of at most {max_chars} characters")
    return value.strip()


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: Any, path: str) -> date:
    """A calendar date written ``2026-11-01`` (YAML reads it as a date; a string is fine too)."""
    if isinstance(value, datetime):
        raise ContentInvalid(path, "must be a date alone, like 2026-11-01, without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ContentInvalid(path, f"{value!r} is not a date: write it like 2026-11-01")


_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_clock(value: Any, path: str) -> time:
    """A time of day on the practice's clock, ``"14:30"`` (24-hour)."""
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ContentInvalid(path, f'{value!r} is not a time: write it like "14:30" (24-hour)')
    return time(int(match[1]), int(match[2]))


def parse_url(value: Any, path: str) -> str:
    """An ``https://`` address a patient's phone can open from a QR code or a printout."""
    if not isinstance(value, str) or not value.strip():
        raise ContentInvalid(path, "must be a web address like https://www.nhs.uk/...")
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise ContentInvalid(
            path,
            f"is {len(url)} characters; at most {MAX_URL_CHARS} (a QR code must stay easy to scan)",
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ContentInvalid(path, f"{url!r} is not a web address") from None
    if parts.scheme != "https":
        raise ContentInvalid(
            path, f"{url!r} must start with https:// (an http:// page can be altered on its way)"
        )
    if not parts.hostname or "@" in parts.netloc or re.search(r"\s", url):
        raise ContentInvalid(path, f"{url!r} is not a web address like https://www.nhs.uk/...")
    return url


_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{1,24}[0-9]")


def parse_phone(value: Any, path: str) -> str:
    """A phone number as patients dial it (``0113 496 0123``, ``+44 113 496 0123``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ContentInvalid(path, 'must be in quotes, like "0113 496 0123" (a leading 0 is lost)')
    if not isinstance(value, str) or not _PHONE.fullmatch(value.strip()):
        raise ContentInvalid(path, f'{value!r} is not a phone number like "0113 496 0123"')
    return value.strip()


def parse_language(value: Any, path: str) -> str:
    if not isinstance(value, str) or not LANGUAGE_TAG.match(value):
        raise ContentInvalid(path, f"{value!r} is not a language code (en, pl, pt-BR)")
    return value


def parse_fraction(value: Any, path: str) -> float:
    """A number from 0 to 1 (a place on a picture, as a share of its width or height)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ContentInvalid(path, f"{value!r} must be a number from 0 to 1")
    return float(value)


def _is_png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _is_jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _is_wav(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _is_ogg(head: bytes) -> bool:
    return head.startswith(b"OggS")


_MEDIA: Final = {
    "picture": ({".png": _is_png, ".jpg": _is_jpeg, ".jpeg": _is_jpeg}, MAX_PICTURE_BYTES),
    "audio": ({".wav": _is_wav, ".ogg": _is_ogg}, MAX_AUDIO_BYTES),
}


def media_path(value: Any, path: str, folder: Path, kind: MediaKind) -> str:
    """``value`` if it names a picture or an audio file inside ``folder`` that is really one."""
    if not isinstance(value, str):
        raise ContentInvalid(path, f"must be the path of a {kind} inside the content folder")
    try:
        check_path(value)
    except ContentRejected as exc:
        raise ContentInvalid(path, str(exc)) from None
    formats, max_bytes = _MEDIA[kind]
    suffix = Path(value).suffix.lower()
    if suffix not in formats:
        raise ContentInvalid(path, f"{value} must be a {kind}: {', '.join(formats)}")
    source = folder / value
    try:
        inside = source.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except OSError:
        raise ContentInvalid(
            path,
            f"{value} is not in the content folder (a path starts at the folder's top, "
            "like pictures/blood-pressure.png)",
        ) from None
    if not inside or not source.is_file():
        raise ContentInvalid(path, f"{value} is not a file inside the content folder")
    try:
        size = source.stat().st_size
        with source.open("rb") as handle:
            head = handle.read(12)
    except OSError as exc:
        raise ContentInvalid(path, f"{value} cannot be read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise ContentInvalid(
            path, f"{value} is {size} bytes; a {kind} may be at most {max_bytes // 2**20} MiB"
        )
    if not formats[suffix](head):
        raise ContentInvalid(
            path, f"{value} is not a {suffix[1:].upper()} file inside: save it again in that format"
        )
    return value


def require_unique(value: str, seen: set[str], path: str) -> str:
    """``value`` (an id) if no earlier entry of the list has it; it is added to ``seen``."""
    if value in seen:
        raise ContentInvalid(path, f"{value!r} is used twice: each id in a list must be unique")
    seen.add(value)
    return value


def content_faults(parse: Callable[_P, _R]) -> Callable[_P, _R]:
    """``parse`` raising :class:`ContentInvalid` for every fault, including those found by the
    shared parsers of :mod:`healthhub.protocol.texts` (which raise ``DocumentInvalid``), so a
    caller catches one type for a file that is not a form."""

    @functools.wraps(parse)
    def parse_content(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return parse(*args, **kwargs)
        except ContentInvalid:
            raise
        except DocumentInvalid as exc:
            raise ContentInvalid(exc.path, exc.message) from None

    return parse_content
