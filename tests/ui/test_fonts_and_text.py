"""Fonts per language, line wrapping, bidi order and shaping: proven on real screenshots.

Kivy runs only in a subprocess (``scripts/render_text.py``) on the ``display`` fixture's
Xvfb; this process reads its PNGs with Pillow and checks what a patient would see:

- every language: the paragraph has exactly the lines ``wrap_text`` predicts, each band
  of the screenshot matches that line rendered alone (so the lines are in reading order,
  top to bottom, and Kivy did not re-break them), nothing is blank or drawn as a box;
- Urdu: every line's ink ends at the label's right edge; a line that begins with a Latin
  word still runs right to left;
- shaping happened: a joined Urdu word (and a Bengali conjunct) is much narrower than the
  same letters kept apart with ZWNJ -- which Pillow without raqm cannot tell apart.

The bidi algorithm itself is checked against libfribidi (the reference raqm uses).
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw, ImageFont

from healthhub.ui import fonts
from healthhub.ui.i18n import LANGUAGES
from healthhub.ui.rtl_text import bidi_levels, visual_runs, wrap_text

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "render_text.py"
# Crops go to the artefacts; HEALTHHUB_UPDATE_DOCS=1 also refreshes docs/screenshots/ (a run
# of the tests must not change the work tree).
DOCS_SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("HEALTHHUB_UPDATE_DOCS") == "1"
    else REPO / "tests" / "artifacts" / "text-crops"
)
ALIGN_TOLERANCE_PX = 4
SAMPLE_FIRST_WORDS = {"ur": "براہ", "pa": "ਕਿਰਪਾ", "bn": "অনুগ্রহ", "en": "Please"}
SAME_LINE_IOU = 0.95
OTHER_LINE_IOU = 0.6


# --- wrap_text, without Kivy ------------------------------------------------------------


def chars(text: str) -> float:
    return float(len(text))


def test_wrap_is_greedy() -> None:
    assert wrap_text("aaa bbb ccc ddd", 7, chars) == ["aaa bbb", "ccc ddd"]
    assert wrap_text("aaa bbb ccc ddd", 8, chars) == ["aaa bbb", "ccc ddd"]
    assert wrap_text("aaa bbb ccc ddd", 11, chars) == ["aaa bbb ccc", "ddd"]
    assert wrap_text("aaa bbb ccc ddd", 100, chars) == ["aaa bbb ccc ddd"]


def test_wrap_keeps_newlines_and_empty_lines() -> None:
    assert wrap_text("aaa bbb\nccc", 100, chars) == ["aaa bbb", "ccc"]
    assert wrap_text("aaa\n\nbbb", 100, chars) == ["aaa", "", "bbb"]
    assert wrap_text("aaa bbb\nccc ddd", 3, chars) == ["aaa", "bbb", "ccc", "ddd"]
    assert wrap_text("", 10, chars) == [""]
    assert wrap_text("\n", 10, chars) == ["", ""]


def test_a_word_wider_than_the_line_gets_a_line_of_its_own() -> None:
    assert wrap_text("a supercalifragilistic b", 5, chars) == ["a", "supercalifragilistic", "b"]
    assert wrap_text("supercalifragilistic", 5, chars) == ["supercalifragilistic"]


def test_wrap_breaks_on_any_whitespace_and_trims_it() -> None:
    assert wrap_text("  aaa\tbbb   ccc  ", 7, chars) == ["aaa bbb", "ccc"]
    assert wrap_text("aaa\u00a0bbb", 3, chars) == ["aaa", "bbb"]  # no-break space is space too


def test_wrap_without_a_width_only_breaks_at_newlines() -> None:
    assert wrap_text("aaa bbb\nccc", 0, chars) == ["aaa bbb", "ccc"]
    assert wrap_text("aaa bbb", -1, chars) == ["aaa bbb"]


def test_wrap_uses_the_measure_not_the_length() -> None:
    def wide_w(text: str) -> float:  # "w" is three times as wide as other letters
        return sum(3.0 if ch == "w" else 1.0 for ch in text)

    assert wrap_text("www aaa aaa", 9, wide_w) == ["www", "aaa aaa"]
    assert wrap_text("آپ کا بلڈ پریشر", 6, chars) == ["آپ کا", "بلڈ", "پریشر"]


words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    paragraphs=st.lists(st.lists(words, max_size=12), min_size=1, max_size=4),
    width=st.integers(min_value=1, max_value=40),
)
def test_wrap_properties(paragraphs: list[list[str]], width: int) -> None:
    text = "\n".join(" ".join(p) for p in paragraphs)
    lines = wrap_text(text, width, chars)
    # Nothing lost, nothing reordered.
    assert " ".join(" ".join(lines).split()) == " ".join(text.split())
    for line in lines:
        assert line == line.strip()
        assert len(line) <= width or " " not in line  # fits, or is a single long word
    # Greedy: the first word of the next line (same paragraph) would not have fitted.
    i = 0
    for paragraph in paragraphs:
        count = max(1, len(wrap_text(" ".join(paragraph), width, chars)))
        block = lines[i : i + count]
        for line, following in itertools.pairwise(block):
            assert len(f"{line} {following.split()[0]}") > width
        i += count
    assert i == len(lines)


# --- bidi, against libfribidi -----------------------------------------------------------

_FRIBIDI_PAR_LTR, _FRIBIDI_PAR_RTL = 0x110, 0x111


@pytest.fixture(scope="module")
def fribidi() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libfribidi.so.0")
    except OSError as exc:
        raise AssertionError(
            f"libfribidi not found ({exc}): run `make setup` (apt-get install libraqm0)"
        ) from exc


def fribidi_levels(lib: ctypes.CDLL, text: str, rtl: bool) -> list[int]:
    n = len(text)
    codes = (ctypes.c_uint32 * n)(*map(ord, text))
    types = (ctypes.c_uint32 * n)()
    lib.fribidi_get_bidi_types(codes, n, types)
    base = ctypes.c_uint32(_FRIBIDI_PAR_RTL if rtl else _FRIBIDI_PAR_LTR)
    levels = (ctypes.c_int8 * n)()
    # No bracket types: rule N0 (bracket pairs) off, as in bidi_levels.
    assert lib.fribidi_get_par_embedding_levels_ex(types, None, n, ctypes.byref(base), levels)
    return list(levels)


def fribidi_visual_to_logical(lib: ctypes.CDLL, text: str, rtl: bool) -> list[int]:
    n = len(text)
    codes = (ctypes.c_uint32 * n)(*map(ord, text))
    visual = (ctypes.c_uint32 * (n + 1))()
    positions = (ctypes.c_int * n)()
    base = ctypes.c_uint32(_FRIBIDI_PAR_RTL if rtl else _FRIBIDI_PAR_LTR)
    assert lib.fribidi_log2vis(codes, n, ctypes.byref(base), visual, None, positions, None)
    return list(positions)


def runs_visual_to_logical(text: str, rtl: bool) -> list[int]:
    order: list[int] = []
    for run in visual_runs(text, rtl=rtl, use_fallback=lambda ch: ch.isascii()):
        indices = list(range(run.start, run.start + len(run.text)))
        order += indices[::-1] if run.direction == "rtl" else indices
    return order


LINES = [
    ("آپ کا بلڈ پریشر 128/82 mmHg ہے", True),
    ("NHS ایپ میں اپنی ریڈنگ دیکھیں", True),
    ("آپ کا وزن 72.5 kg اور درجہ حرارت 37.2 °C ہے", True),
    ("آپ کا سیچوریشن 97% ہے", True),
    ("ਤੁਹਾਡਾ ਬਲੱਡ ਪ੍ਰੈਸ਼ਰ 128/82 mmHg ਹੈ।", False),
    ("আপনার রক্তচাপ 128/82 mmHg, তাপমাত্রা 37.2 °C।", False),
    ("Your result: ہائی بلڈ پریشر 150/95", False),
    ("BMI 24.3 kg/m2 ہے", True),
    ("۱۲۸/۸۲ ملی میٹر", True),
    ("trailing spaces   ", True),
]


@pytest.mark.parametrize(("text", "rtl"), LINES)
def test_bidi_levels_match_fribidi(fribidi: ctypes.CDLL, text: str, rtl: bool) -> None:
    assert bidi_levels(text, rtl=rtl) == fribidi_levels(fribidi, text, rtl)
    assert runs_visual_to_logical(text, rtl) == fribidi_visual_to_logical(fribidi, text, rtl)


# Letters of every script we show, digits of two systems, the separators and terminators
# of numbers and units, spaces, marks (Arabic fatha, Gurmukhi vowel sign), LRM and RLM.
BIDI_ALPHABET = "aZmH" + "ابپکہے" + "ਤਬ" + "0129" + "۱۲" + "٣" + " /.,:%°+-" + "\u064e\u0a41"
BIDI_ALPHABET += "\u200e\u200f"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=BIDI_ALPHABET, min_size=1, max_size=30), rtl=st.booleans())
def test_bidi_agrees_with_fribidi_on_any_mix(fribidi: ctypes.CDLL, text: str, rtl: bool) -> None:
    assert bidi_levels(text, rtl=rtl) == fribidi_levels(fribidi, text, rtl)
    # fribidi moves marks after their base in right-to-left runs (rule L3); raqm does too.
    if not any(unicodedata.bidirectional(ch) == "NSM" for ch in text):
        assert runs_visual_to_logical(text, rtl) == fribidi_visual_to_logical(fribidi, text, rtl)


def test_runs_split_where_the_font_changes() -> None:
    nastaliq = fonts.glyph_coverage(fonts.NASTALIQ.regular)
    runs = visual_runs(
        "آپ کا بلڈ پریشر 128/82 mmHg ہے", rtl=True, use_fallback=lambda c: ord(c) not in nastaliq
    )
    # Left to right on screen: "ہے", then the unit, then the number, then the sentence.
    assert [(r.text, r.direction, r.fallback) for r in runs] == [
        ("ہے", "rtl", False),
        (" ", "rtl", True),  # spaces next to Latin are Latin spaces
        ("mmHg", "ltr", True),
        (" ", "rtl", True),
        ("128/82", "ltr", False),  # Nastaliq has digits and the slash
        ("آپ کا بلڈ پریشر ", "rtl", False),
    ]


# --- fonts -------------------------------------------------------------------------------


def test_font_per_language() -> None:
    assert fonts.font_for("ur") == fonts.NASTALIQ
    assert fonts.font_for("pa") == fonts.GURMUKHI
    assert fonts.font_for("bn") == fonts.BENGALI
    for code in ("en", "pl", "ro", "pt", "es"):
        assert fonts.font_for(code) == fonts.LATIN
    assert fonts.font_for("xx") == fonts.LATIN  # unknown: Latin
    assert fonts.font_for("ur-PK") == fonts.NASTALIQ
    assert fonts.value_font() == fonts.VALUE_FONT == fonts.LATIN
    assert fonts.NASTALIQ.kivy_name(bold=True).endswith("NotoNastaliqUrdu-Bold.ttf")


def test_every_font_is_installed() -> None:
    fonts.check_fonts()  # raises FontsMissing with the install step
    for path in fonts.required_fonts():
        assert path.is_file()
    fonts.check_shaping()  # Pillow has libraqm


def test_missing_fonts_name_the_install_step(tmp_path: Path) -> None:
    with pytest.raises(fonts.FontsMissing, match=r"make setup.*apt-get install fonts-noto-core"):
        fonts.check_fonts(["ur"], font_dir=tmp_path)
    with pytest.raises(fonts.FontsMissing, match=r"NotoSans-Regular\.ttf.*NotoNastaliqUrdu"):
        fonts.check_fonts(["ur"], font_dir=tmp_path)


UNITS = "0123456789/%.°mmHgkgcmC"


def test_glyph_coverage_findings() -> None:
    """The table in fonts.py's docstring, checked."""
    digits = "0123456789"

    def missing(font: fonts.FontSet) -> str:
        return fonts.missing_glyphs(UNITS + digits + ":", font.regular)

    assert missing(fonts.LATIN) == ""
    assert missing(fonts.GURMUKHI) == "°mHgkcC"
    assert missing(fonts.BENGALI) == "°mHgkcC"
    assert missing(fonts.NASTALIQ) == "%°mHgkcC"
    assert missing(fonts.NASKH) == "/%°mHgkcC"
    for font in (fonts.LATIN, fonts.GURMUKHI, fonts.BENGALI, fonts.NASTALIQ):
        assert fonts.missing_glyphs(digits + ".", font.regular) == "", font
        assert fonts.missing_glyphs(digits + ".", font.bold) == "", font
    # Each script font has its own letters, and the Urdu letters the samples use.
    assert fonts.missing_glyphs("آپ کا بلڈ پریشر ہے ۔ ۱۲۸", fonts.NASTALIQ.regular) == ""
    assert fonts.missing_glyphs("ਤੁਹਾਡਾ ਬਲੱਡ ਪ੍ਰੈਸ਼ਰ ।", fonts.GURMUKHI.regular) == ""
    assert fonts.missing_glyphs("আপনার রক্তচাপ ।", fonts.BENGALI.regular) == ""


@pytest.mark.parametrize(
    "font", [fonts.LATIN, fonts.GURMUKHI, fonts.BENGALI, fonts.NASTALIQ, fonts.NASKH]
)
def test_cmap_reader_agrees_with_what_pillow_draws(font: fonts.FontSet) -> None:
    """A character the cmap lacks is drawn as the .notdef box; one it has is not."""
    pil = ImageFont.truetype(str(font.regular), 40)
    notdef = bytes(pil.getmask("\ue000"))  # a private-use character no Noto font maps
    covered = fonts.glyph_coverage(font.regular)
    for ch in map(chr, range(0x21, 0x7F)):
        drawn_as_box = bytes(pil.getmask(ch)) == notdef
        assert drawn_as_box == (ord(ch) not in covered), (font.regular.name, ch)


# --- Kivy, in a subprocess on Xvfb ------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(display: str, request: pytest.FixtureRequest, tmp_path_factory: Any) -> Path:
    """Run the script once for the module; its PNGs and facts.json stay as artefacts."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    out = REPO / "tests" / "artifacts" / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {
        **os.environ,
        "DISPLAY": display,
        "KIVY_TEXT": "pil",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_HOME": str(tmp_path_factory.mktemp("kivy-home")),
    }
    log = out / "render_text.log"
    with log.open("wb") as sink:
        result = subprocess.run(
            [sys.executable, str(SCRIPT), str(out)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=240,
            check=False,
        )
    tail = log.read_text(errors="replace")[-3000:]
    assert result.returncode == 0, f"render_text.py failed:\n{tail}"
    facts_path = out / "facts.json"
    assert facts_path.exists(), f"render_text.py wrote no facts:\n{tail}"
    facts = json.loads(facts_path.read_text())
    assert "error" not in facts, facts.get("error")
    return out


@pytest.fixture(scope="module")
def facts(rendered: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((rendered / "facts.json").read_text())
    return result


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Dark pixels of ``box`` as a 0/255 mask (black text on a white window)."""
    return image.crop(box).convert("L").point(lambda v: 255 if v < 128 else 0)


def count(mask: Image.Image) -> int:
    return mask.histogram()[255]


def iou(a: Image.Image, b: Image.Image) -> float:
    union = count(ImageChops.lighter(a, b))
    return count(ImageChops.multiply(a, b)) / union if union else 1.0


def bands(
    image: Image.Image, rect: dict[str, float], line_height: int, n: int
) -> Iterator[Image.Image]:
    x, top, width = int(rect["x"]), int(rect["png_top"]), int(rect["width"])
    for i in range(n):
        yield ink(image, (x, top + i * line_height, x + width, top + (i + 1) * line_height))


def save_for_docs(
    image: Image.Image, rect: Mapping[str, float], name: str, margin: int = 16
) -> None:
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    box = (
        max(0, int(rect["x"]) - margin),
        max(0, int(rect["png_top"]) - margin),
        min(image.width, int(rect["x"] + rect["width"]) + margin),
        min(image.height, int(rect["png_top"] + rect["height"]) + margin),
    )
    image.crop(box).save(DOCS_SCREENSHOTS / name, optimize=True)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_paragraph_wraps_into_the_predicted_lines(
    rendered: Path, facts: dict[str, Any], language: str
) -> None:
    fact = facts["languages"][language]
    lines, line_height = fact["predicted_lines"], fact["line_height"]
    assert len(lines) >= 3, f"{language}: the sample should wrap: {lines}"
    first_word = SAMPLE_FIRST_WORDS.get(language)
    if first_word:  # reading order: the text's first word is on the top line
        assert lines[0].split()[0] == first_word
    assert fact["wrapped_lines"] == lines
    # Kivy kept our lines: one string per line, none re-broken, shaped as a whole.
    assert fact["kivy_lines"] == [[line] for line in lines]
    assert fact["texture_size"] == [fact["rect"]["width"], len(lines) * line_height]
    assert all(width <= fact["content_width"] for width in fact["line_widths"])
    assert fact["greedy_tight"], "no wrapped paragraph"
    assert all(fact["greedy_tight"]), "a line could have taken the next word"
    assert fact["missing_glyphs"] == "", f"{language}: drawn as boxes: {fact['missing_glyphs']}"
    assert fact["rtl"] == LANGUAGES[language].rtl
    assert fact["halign"] == ("right" if LANGUAGES[language].rtl else "left")
    assert Path(fact["font_name"]) == fonts.font_for(language).regular

    shot = Image.open(rendered / f"text-{language}.png")
    reference = Image.open(rendered / f"ref-{language}.png")
    shot_bands = list(bands(shot, fact["rect"], line_height, len(lines)))
    ref_bands = list(bands(reference, fact["rect"], line_height, len(lines)))
    width = int(fact["rect"]["width"])
    for i, (band, ref) in enumerate(zip(shot_bands, ref_bands, strict=True)):
        box = band.getbbox()
        assert box is not None, f"{language}: line {i + 1} is blank"
        # Line i on screen is line i of wrap_text, drawn exactly as when drawn alone.
        assert iou(band, ref) >= SAME_LINE_IOU, f"{language}: line {i + 1} is not {lines[i]!r}"
        for j, other in enumerate(ref_bands):
            if j != i and lines[j] != lines[i]:
                assert iou(band, other) < OTHER_LINE_IOU, (language, i, j)
        left, _top, right, _bottom = box
        if LANGUAGES[language].rtl:
            assert right >= width - ALIGN_TOLERANCE_PX, (
                f"{language}: line {i + 1} ends {width - right} px from the right edge"
            )
        else:
            assert left <= ALIGN_TOLERANCE_PX, f"{language}: line {i + 1} starts at {left} px"
    # Nothing drawn outside the label.
    x, top = int(fact["rect"]["x"]), int(fact["rect"]["png_top"])
    height = len(lines) * line_height
    outside = count(ink(shot, (0, 0, shot.width, shot.height))) - count(
        ink(shot, (x, top, x + width, top + height))
    )
    assert outside == 0
    if language in ("ur", "pa", "bn"):
        save_for_docs(shot, fact["rect"], f"text-{language}.png")


def test_rtl_line_starting_with_latin_runs_right_to_left(
    rendered: Path, facts: dict[str, Any]
) -> None:
    """'NHS ...' in Urdu: NHS is at the RIGHT end (Pillow alone would put it at the left)."""
    shot = Image.open(rendered / "bidi-ur.png")
    line_rect, latin_rect = facts["bidi-ur"]["line"], facts["bidi-ur"]["latin"]
    height = int(line_rect["height"])
    assert int(latin_rect["height"]) == height
    x, width = int(line_rect["x"]), int(line_rect["width"])
    line = ink(shot, (x, int(line_rect["png_top"]), x + width, int(line_rect["png_top"]) + height))
    latin_top = int(latin_rect["png_top"])
    latin = ink(shot, (x, latin_top, x + width, latin_top + height))
    latin_box = latin.getbbox()
    assert latin_box is not None
    assert latin_box[2] >= width - ALIGN_TOLERANCE_PX  # "NHS" alone: at the right edge
    # Where "NHS" alone has ink, the whole line has the same ink: NHS is at its right end.
    assert iou(line.crop(latin_box), latin.crop(latin_box)) >= SAME_LINE_IOU
    line_box = line.getbbox()
    assert line_box is not None
    assert line_box[0] < latin_box[0] - 200  # the Urdu is left of it


def ink_width(image: Image.Image, rect: dict[str, float]) -> int:
    x, top = int(rect["x"]), int(rect["png_top"])
    box = ink(image, (x, top, x + int(rect["width"]), top + int(rect["height"]))).getbbox()
    assert box is not None, "nothing drawn"
    return box[2] - box[0]


#: Joined / kept-apart ink width below which we call a word shaped (measured: Urdu
#: about 0.5, Bengali about 0.85; without shaping both are 1.0).
SHAPED_RATIO = {"ur": 0.75, "bn": 0.93}


def test_text_is_shaped(rendered: Path, facts: dict[str, Any]) -> None:
    shot = Image.open(rendered / "shaping.png")
    for i, (language, word) in enumerate(facts["shaping_words"]):
        joined = ink_width(shot, facts["shaping"][f"{i}-joined"])
        apart = ink_width(shot, facts["shaping"][f"{i}-unjoined"])
        assert joined / apart < SHAPED_RATIO[language], (
            f"{word!r} is {joined} px wide, {apart} px with its letters kept apart: "
            "not shaped (is libraqm installed? is the text provider PIL?)"
        )


@pytest.mark.parametrize(("language", "word"), [("ur", "پریشر"), ("bn", "রক্তচাপ")])
def test_the_shaping_check_detects_unshaped_text(language: str, word: str) -> None:
    """Negative control: Pillow's basic layout (no raqm) gives a ratio near 1."""
    apart = word.replace("\u09cd", "\u09cd\u200c") if language == "bn" else "\u200c".join(word)
    font_path = str(fonts.font_for(language).regular)

    def width(text: str, engine: ImageFont.Layout) -> int:
        font = ImageFont.truetype(font_path, 30, layout_engine=engine)
        image = Image.new("L", (600, 150), 0)
        ImageDraw.Draw(image).text((20, 20), text, font=font, fill=255)
        box = image.getbbox()
        assert box is not None
        return box[2] - box[0]

    basic = ImageFont.Layout.BASIC
    assert width(word, basic) / width(apart, basic) >= 0.97
    raqm = ImageFont.Layout.RAQM
    assert width(word, raqm) / width(apart, raqm) < SHAPED_RATIO[language]


def test_labels_rewrap_when_width_font_size_or_language_change(facts: dict[str, Any]) -> None:
    steps = facts["rewrap"]
    assert [s["change"] for s in steps] == ["initial", "width", "font_size", "language"]
    for step in steps:
        assert step["wrapped_lines"] == step["predicted_lines"], step["change"]
        assert step["texture_height"] == len(step["wrapped_lines"]) * step["line_height"]
    initial, narrower, bigger, english = steps
    assert len(narrower["wrapped_lines"]) > len(initial["wrapped_lines"])
    assert len(bigger["wrapped_lines"]) > len(narrower["wrapped_lines"])
    assert bigger["line_height"] > narrower["line_height"]
    assert initial["rtl"]
    assert initial["halign"] == "right"
    assert not english["rtl"]
    assert english["halign"] == "left"
    assert Path(english["font_name"]) == fonts.LATIN.regular


def test_plain_kivy_comparison_is_kept(rendered: Path, facts: dict[str, Any]) -> None:
    """The evidence for ShapedLabel and for Nastaliq, kept next to the screenshots."""
    from_script = facts["compare-ur"]
    shot = Image.open(rendered / "compare-ur.png")
    for rect in from_script.values():
        assert ink_width(shot, rect) > 100
    # Why a plain Label shows boxes here: the fonts lack these characters.
    assert fonts.missing_glyphs("128/82 mmHg NHS", fonts.NASTALIQ.regular) == "mHgNS"
    assert fonts.missing_glyphs("128/82 mmHg NHS", fonts.NASKH.regular) == "/mHgNS"
    top = max(0, min(int(r["png_top"]) for r in from_script.values()) - 40)  # + caption
    bottom = max(int(r["png_top"] + r["height"]) for r in from_script.values())
    whole = {"x": 0, "png_top": top, "width": shot.width, "height": bottom - top}
    save_for_docs(shot, whole, "text-ur-fonts.png")
