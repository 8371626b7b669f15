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
