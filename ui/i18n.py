"""Translations: gettext catalogues (``locale/<lang>.po``), one per supported language.

Texts are written in English in the code, marked ``N_("...")`` where they are
defined and translated with :func:`Translator.gettext` where they are shown, so
a test can extract every marked text and check that every catalogue translates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Mark a text for translation where it is defined; it is translated when shown."""
    return message


@dataclass(frozen=True)
class Language:
    code: str  # BCP 47 / gettext code, also the espeak-ng voice family
    name: str  # its own name, as shown on the language chooser
    rtl: bool = False


#: The languages the UI ships catalogues for, in the order the chooser shows them.
LANGUAGES: Mapping[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English"),
        Language("pl", "Polski"),
        Language("ro", "Română"),
        Language("pa", "ਪੰਜਾਬੀ"),
        Language("ur", "اردو", rtl=True),
        Language("pt", "Português"),
        Language("es", "Español"),
        Language("bn", "বাংলা"),
    )
}


class CatalogueError(Exception):
    """A catalogue that cannot be read: the UI falls back to English and says so to staff."""


def load_catalogue(code: str) -> dict[str, str]:
    """msgid -> msgstr of ``locale/<code>.po``; English needs none (the msgids are English)."""
    if code == "en":
        return {}
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / f"{code}.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code.replace("-", "_"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"catalogue {path.name} cannot be read: {exc}") from None
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


class Translator:
    """Translations for every language, loaded once each when first shown."""

    def __init__(self) -> None:
        self._catalogues: dict[str, dict[str, str]] = {}
        self.problems: list[str] = []

    def gettext(self, message: str, language: str) -> str:
        catalogue = self._catalogues.get(language)
        if catalogue is None:
            try:
                catalogue = load_catalogue(language)
            except CatalogueError as exc:
                self.problems.append(str(exc))
                catalogue = {}
            self._catalogues[language] = catalogue
        return catalogue.get(message) or message
