"""Which font shows which language, and what each font cannot show.

Kivy draws a string with exactly one font file, and Pillow (our text provider, see
``notes/kivy-complex-scripts.md``) has no font fallback: a character the font lacks is
drawn as a box ("tofu"). So the font must be chosen per language, and we must know what
each font lacks. All fonts come from Debian's ``fonts-noto-core``
(``/usr/share/fonts/truetype/noto/``; ``make setup`` installs it).

Fonts per language (:func:`font_for`):

- en, pl, ro, pt, es: Noto Sans (Latin with every diacritic these languages use).
- pa: Noto Sans Gurmukhi. bn: Noto Sans Bengali.
- ur: **Noto Nastaliq Urdu**, not Noto Naskh Arabic. Tried both in Kivy under Xvfb with
  the same paragraph and the line "آپ کا بلڈ پریشر 128/82 mmHg ہے" at 32 px
  (``docs/screenshots/text-ur-fonts.png``):

  * Nastaliq is the hand Urdu is written and printed in; Urdu readers read Naskh as
    "Arabic". For patients who find reading hard, the familiar shape matters most.
  * Nastaliq has the ASCII digits and ``/ . : + - ( ) =``, so "128/82" renders in it.
    Naskh lacks ``/ % ( ) + -``: "128/82" shows a box for the slash.
  * Neither has Latin letters, ``%`` or ``°`` ("mmHg", "kg", "°C" are boxes in both).
  * Cost: Nastaliq needs tall lines (ascent + descent = 2.5 em against 1.75 em for
    Naskh and 1.4 em for Noto Sans) and its ink overhangs the advance box by about
    0.2 em on both sides. ``ShapedLabel`` (``widgets.py``) keeps that ink inside the
    texture; screens must give Urdu text more height (wrap and scroll, never clip).

Glyph coverage of the non-Latin fonts, read from their ``cmap`` tables
(:func:`glyph_coverage`; ``tests/ui/test_fonts_and_text.py`` checks it):

======================  ========  =====  ====  ===========  ===================
font                    0-9 . :   ``/``  ``%`` ``°``        Latin letters
======================  ========  =====  ====  ===========  ===================
Noto Sans Gurmukhi      yes       yes    yes   no           no
Noto Sans Bengali       yes       yes    yes   no           no
Noto Nastaliq Urdu      yes       yes    no    no           no
Noto Naskh Arabic       yes       no     no    no           no
======================  ========  =====  ====  ===========  ===================

What the UI does about it:

- Measured values and their units ("128/82", "mmHg", "72.5 kg", "37.2 °C", "97 %")
  are shown in their own labels with :data:`VALUE_FONT` (Noto Sans, which has all of
  them), whatever the language. Units are UCUM symbols, the same in every language.
- Translated sentences that contain Latin letters or symbols (e.g. "... 128/82 mmHg
  ہے") go in a ``ShapedLabel``, which draws every character the language's font lacks
  with :data:`VALUE_FONT` instead (:func:`missing_glyphs` finds them), in the right
  bidirectional order. A plain Kivy ``Label`` would draw boxes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

#: Where Debian's fonts-noto-core installs the fonts.
FONT_DIR: Final = Path("/usr/share/fonts/truetype/noto")

INSTALL_HINT: Final = "run `make setup` (apt-get install fonts-noto-core)"


class FontsMissing(RuntimeError):
    """A font the UI needs is not installed."""


class ShapingUnavailable(RuntimeError):
    """Pillow cannot shape text (libraqm missing): Urdu, Panjabi, Bengali would be wrong."""


@dataclass(frozen=True)
class FontSet:
    """The regular and bold files of one typeface."""

    regular: Path
    bold: Path

    def path(self, bold: bool = False) -> Path:
        return self.bold if bold else self.regular

    def kivy_name(self, bold: bool = False) -> str:
        """The file as a string, for Kivy's ``font_name`` (a StringProperty: no ``Path``)."""
        return str(self.path(bold))


def _noto(family: str, directory: Path = FONT_DIR) -> FontSet:
    return FontSet(directory / f"{family}-Regular.ttf", directory / f"{family}-Bold.ttf")


LATIN: Final = _noto("NotoSans")
GURMUKHI: Final = _noto("NotoSansGurmukhi")
BENGALI: Final = _noto("NotoSansBengali")
NASTALIQ: Final = _noto("NotoNastaliqUrdu")
#: Tried for Urdu and not chosen (see the module docstring); kept for comparisons.
NASKH: Final = _noto("NotoNaskhArabic")

#: Numbers and units, in every language: Noto Sans has digits, Latin letters, % and °.
VALUE_FONT: Final = LATIN

_BY_LANGUAGE: Final[dict[str, FontSet]] = {"pa": GURMUKHI, "bn": BENGALI, "ur": NASTALIQ}


def font_for(language_code: str) -> FontSet:
    """The typeface for a language code ("ur", "pa", ...); unknown codes get Latin."""
    return _BY_LANGUAGE.get(language_code.split("-", maxsplit=1)[0].lower(), LATIN)


def value_font() -> FontSet:
    """The typeface for measured values and units, whatever the language."""
    return VALUE_FONT


def required_fonts(languages: Iterable[str] | None = None, font_dir: Path = FONT_DIR) -> list[Path]:
    """Every font file the UI opens for these languages (default: all in ``LANGUAGES``)."""
    if languages is None:
        from healthhub.ui.i18n import LANGUAGES

        languages = LANGUAGES
    paths: list[Path] = []
    for font_set in [VALUE_FONT, *(font_for(code) for code in languages)]:
        for path in (font_set.regular, font_set.bold):
            if font_dir / path.name not in paths:
                paths.append(font_dir / path.name)
    return paths


def check_fonts(languages: Iterable[str] | None = None, font_dir: Path = FONT_DIR) -> None:
    """Raise :class:`FontsMissing` naming every missing font and the install step."""
    missing = [str(path) for path in required_fonts(languages, font_dir) if not path.is_file()]
    if missing:
        raise FontsMissing(f"fonts missing: {', '.join(missing)}; {INSTALL_HINT}")


def check_shaping() -> None:
    """Raise :class:`ShapingUnavailable` unless Pillow lays text out with libraqm."""
    from PIL import features

    if not features.check("raqm"):
        raise ShapingUnavailable(
            "Pillow cannot find libraqm, so Urdu, Panjabi and Bengali would be drawn "
            "unshaped; run `make setup` (apt-get install libraqm0)"
        )


# --- glyph coverage, from the font's cmap table -------------------------------------------
# Pillow exposes no cmap, and fontTools is not a dependency; the two subtable formats
# every Noto font has (4: BMP, 12: full Unicode) take a few lines to read.
# https://learn.microsoft.com/typography/opentype/spec/cmap


def _cmap_format4(data: bytes, at: int) -> set[int]:
    seg_count = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{seg_count}H", data, at + 14)
    starts_at = at + 16 + 2 * seg_count
    starts = struct.unpack_from(f">{seg_count}H", data, starts_at)
    deltas = struct.unpack_from(f">{seg_count}h", data, starts_at + 2 * seg_count)
    range_offsets_at = starts_at + 4 * seg_count
    range_offsets = struct.unpack_from(f">{seg_count}H", data, range_offsets_at)
    covered: set[int] = set()
    for i in range(seg_count):
        for code in range(starts[i], ends[i] + 1):
            if code == 0xFFFF:
                continue
            if range_offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                address = range_offsets_at + 2 * i + range_offsets[i] + 2 * (code - starts[i])
                glyph = struct.unpack_from(">H", data, address)[0]
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                covered.add(code)
    return covered


def _cmap_format12(data: bytes, at: int) -> set[int]:
    groups = struct.unpack_from(">I", data, at + 12)[0]
    covered: set[int] = set()
    for g in range(groups):
        start, end, glyph = struct.unpack_from(">III", data, at + 16 + 12 * g)
        covered.update(range(start + (1 if glyph == 0 else 0), end + 1))
    return covered


@lru_cache(maxsize=32)
def glyph_coverage(font: Path) -> frozenset[int]:
    """The code points ``font`` (a TrueType/OpenType file) maps to a glyph."""
    data = font.read_bytes()
    num_tables = struct.unpack_from(">H", data, 4)[0]
    cmap_at = None
    for t in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, 12 + 16 * t)
        if tag == b"cmap":
            cmap_at = offset
    if cmap_at is None:
        raise ValueError(f"{font}: no cmap table")
    subtables: dict[tuple[int, int], int] = {}
    for s in range(struct.unpack_from(">H", data, cmap_at + 2)[0]):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap_at + 4 + 8 * s)
        subtables[(platform, encoding)] = cmap_at + offset
    for key in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3), (0, 1), (0, 0)):
        if key in subtables:
            at = subtables[key]
            fmt = struct.unpack_from(">H", data, at)[0]
            if fmt == 12:
                return frozenset(_cmap_format12(data, at))
            if fmt == 4:
                return frozenset(_cmap_format4(data, at))
    raise ValueError(f"{font}: no Unicode cmap subtable of format 4 or 12")


def missing_glyphs(text: str, font: Path) -> str:
    """The distinct characters of ``text`` (but whitespace) that ``font`` has no glyph for."""
    covered = glyph_coverage(font)
    seen: dict[str, None] = {}
    for ch in text:
        if ord(ch) not in covered and not ch.isspace():
            seen[ch] = None
    return "".join(seen)
