"""Texts in several languages, as pushed content writes them, and the error that names a fault.

Pushed content (forms, information pages, services, notices) is YAML written by practice and
IT staff. Every text in it is either one string (English) or a mapping of language codes to
strings::

    title: Blood pressure
    title: {en: Community groups, pl: Grupy lokalne}

English is required: it is what a patient sees when their language has no translation, and
what staff read. A fault anywhere in a document is a :class:`DocumentInvalid` that names the
file and the path inside it (``forms/phq-9.yaml: pages[0].questions[8].options[1].score``),
so IT staff can find it before anything reaches a patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from healthhub.protocol.errors import ProtocolError

#: A language tag as the UI settings accept it (``en``, ``pl``, ``pt-BR``).
LANGUAGE_TAG: Final = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
#: The longest single text (a paragraph of an information page).
MAX_TEXT_CHARS: Final = 4000


class DocumentInvalid(ProtocolError):
    """Pushed content that does not follow its schema; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class Text:
    """One text in the languages it was written in; ``en`` is always there."""

    values: Mapping[str, str]

    def get(self, language: str) -> str:
        """The text in ``language``, or in English when it has no translation."""
        return self.values.get(language) or self.values["en"]

    def has(self, language: str) -> bool:
        return bool(self.values.get(language))

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(code for code, text in self.values.items() if text)

    def matches(self, query: str) -> bool:
        """Whether ``query`` appears in the text in any of its languages (case-blind)."""
        folded = query.casefold()
        return any(folded in text.casefold() for text in self.values.values())


def parse_text(value: Any, path: str, *, max_chars: int = MAX_TEXT_CHARS) -> Text:
    """A :class:`Text` from a string or a ``{language: string}`` mapping."""
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, Mapping):
        raise DocumentInvalid(path, "must be a text, or a mapping of language codes to texts")
    values: dict[str, str] = {}
    for code, text in value.items():
        if not isinstance(code, str) or not LANGUAGE_TAG.match(code):
            raise DocumentInvalid(path, f"{code!r} is not a language code (en, pl, pt-BR)")
        if not isinstance(text, str) or not text.strip():
            raise DocumentInvalid(f"{path}.{code}", "must be a text that is not empty")
        if len(text) > max_chars:
            raise DocumentInvalid(
                f"{path}.{code}", f"is {len(text)} characters; at most {max_chars}"
            )
        values[code] = text.strip()
    if "en" not in values:
        raise DocumentInvalid(
            path, "needs an English text (en): it is shown when a translation is missing"
        )
    return Text(values)


def optional_text(value: Any, path: str, *, max_chars: int = MAX_TEXT_CHARS) -> Text | None:
    return None if value is None else parse_text(value, path, max_chars=max_chars)


def mapping(
    value: Any, path: str, *, allowed: frozenset[str], required: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    """``value`` as a mapping with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(value, Mapping):
        raise DocumentInvalid(path, "must be a mapping (key: value)")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise DocumentInvalid(
            path, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    missing = sorted(required - set(value))
    if missing:
        raise DocumentInvalid(path, f"missing {', '.join(missing)}")
    return value


def sequence(value: Any, path: str, *, max_items: int, min_items: int = 0) -> list[Any]:
    """``value`` as a list of ``min_items`` to ``max_items`` items."""
    if not isinstance(value, list):
        raise DocumentInvalid(path, "must be a list")
    if not min_items <= len(value) <= max_items:
        raise DocumentInvalid(path, f"has {len(value)} items; {min_items} to {max_items} allowed")
    return value


_ID = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


def identifier(value: Any, path: str) -> str:
    """An id inside a document: 1-64 lower-case letters, digits, ``-`` and ``_``."""
    if not isinstance(value, str) or not _ID.match(value):
        raise DocumentInvalid(path, f"{value!r} is not an id: lower-case letters, digits, - and _")
    return value
