"""Every text the patient UI shows, extracted from the source, and the catalogues kept in step.

    python -m healthhub.ui.messages   # rewrite locale/healthhub.pot, add new texts to each .po

Texts are found where they are marked: ``N_("...")`` and ``app.t("...")`` in
Python (read with :mod:`ast`, so implicit concatenation is followed), and
``app.t("...")`` and ``message: "..."`` in ``.kv`` files. A text is translated
when its ``msgstr`` is not empty and not fuzzy; ``tests/ui/test_catalogues.py``
fails if any catalogue misses one, or if a translation drops a ``{placeholder}``.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from healthhub.ui.i18n import LANGUAGES, LOCALE_DIR

UI_DIR = Path(__file__).parent
_KV_TEXT = re.compile(r"""(?:app\.t\(\s*|message:\s*)"((?:[^"\\]|\\.)*)\"""")


def _python_texts(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        marked = (isinstance(func, ast.Name) and func.id == "N_") or (
            isinstance(func, ast.Attribute) and func.attr == "t"
        )
        first = node.args[0]
        if marked and isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield first.value


def _kv_texts(path: Path) -> Iterator[str]:
    for match in _KV_TEXT.finditer(path.read_text(encoding="utf-8")):
        yield (
            match.group(1).encode().decode("unicode_escape")
            if "\\" in match.group(1)
            else match.group(1)
        )


def extract() -> list[str]:
    """Every marked text, in a stable order (first seen, by file name)."""
    found: dict[str, None] = {}
    for path in sorted(UI_DIR.rglob("*.py")):
        if "assets" not in path.parts:
            found.update(dict.fromkeys(t for t in _python_texts(path) if t))
    for path in sorted(UI_DIR.rglob("*.kv")):
        found.update(dict.fromkeys(t for t in _kv_texts(path) if t))
    return list(found)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def read_catalogue(code: str, path: Path | None = None) -> Catalog:
    with (path or LOCALE_DIR / f"{code}.po").open("rb") as handle:
        return read_po(handle, locale=None if path else code)


def update_catalogues() -> None:
    """Rewrite the template and add every new text (untranslated) to each language's .po."""
    texts = extract()
    template = Catalog(project="healthhub-kiosk", fuzzy=False)
    for text in texts:
        template.add(text)
    with (LOCALE_DIR / "healthhub.pot").open("wb") as handle:
        write_po(handle, template, omit_header=True, sort_output=False)
    for code in LANGUAGES:
        if code == "en":
            continue
        path = LOCALE_DIR / f"{code}.po"
        catalogue = read_catalogue(code) if path.exists() else Catalog(locale=code)
        for text in texts:
            if text not in catalogue:
                catalogue.add(text)
        with path.open("wb") as handle:
            write_po(handle, catalogue, omit_header=True, sort_output=False, ignore_obsolete=True)


if __name__ == "__main__":
    update_catalogues()
