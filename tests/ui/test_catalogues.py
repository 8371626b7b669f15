"""Every text the UI shows is translated in every catalogue, placeholders intact."""

from __future__ import annotations

import pytest

from healthhub.ui.i18n import LANGUAGES, LOCALE_DIR, Translator, load_catalogue
from healthhub.ui.messages import extract, placeholders, read_catalogue

TEXTS = extract()
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def test_the_extraction_finds_the_texts_of_every_kind_of_source() -> None:
    assert "Touch here to start" in TEXTS  # a .kv message
    assert "Your blood pressure is very high" in TEXTS  # N_() in banding
    assert "Step {n} of {total}" in TEXTS  # app.t() in a screen class
    assert len(TEXTS) > 100


def test_the_template_is_up_to_date() -> None:
    template = read_catalogue("healthhub", path=LOCALE_DIR / "healthhub.pot")
    assert [str(m.id) for m in template if m.id] == TEXTS, "run `make catalogues`"


@pytest.mark.parametrize("code", TRANSLATED)
def test_catalogue_translates_every_text(code: str) -> None:
    catalogue = read_catalogue(code)
    untranslated = []
    broken = []
    for text in TEXTS:
        message = catalogue.get(text)
        if message is None or not message.string or message.fuzzy:
            untranslated.append(text)
        elif placeholders(str(message.string)) != placeholders(text):
            broken.append(text)
    assert not untranslated, f"{code}.po misses {len(untranslated)}: {untranslated[:5]}"
    assert not broken, f"{code}.po changes the {{placeholders}} of {broken[:5]}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_translator_serves_the_catalogue(code: str) -> None:
    catalogue = load_catalogue(code)
    translator = Translator()
    assert translator.gettext("Touch here to start", code) == catalogue["Touch here to start"]
    assert translator.gettext("Touch here to start", code) != "Touch here to start"
    assert translator.gettext("Touch here to start", "en") == "Touch here to start"
    assert not translator.problems


def test_an_unknown_language_falls_back_to_english_and_is_reported() -> None:
    translator = Translator()
    assert translator.gettext("Touch here to start", "xx") == "Touch here to start"
    assert translator.problems
