"""Line breaking and bidirectional ordering for labels, without Kivy (so unit-testable).

Why this exists (found by experiment under Xvfb; ``tests/ui/test_fonts_and_text.py``
keeps the proof, screenshots in ``docs/screenshots/text-*.png``, the plain-Kivy evidence
in ``docs/screenshots/text-ur-fonts.png``):

- Kivy's own wrapping (``text_size`` with a width; ``layout_text`` in
  ``kivy/core/text/text_layout.pyx``) measures whole candidate lines (``line[s:e]``, from
  the line's start to the next space) and hands each line to the provider as ONE string
  (``render_lines`` asserts one word per line for a plain Label). So with
  ``KIVY_TEXT=pil`` + libraqm each line is shaped and reordered as a whole: Urdu
  paragraphs wrap top to bottom in reading order and stay joined. Four things are wrong:

  1. Pillow/raqm takes each line's base direction from its first strong character, so
     an Urdu line that starts with a Latin word ("NHS ...") is laid out left to right:
     the Latin word lands at the left end instead of the right.
  2. Kivy aligns the ink box (``getbbox``), not the pen advance, and draws at the pen:
     right-aligned Nastaliq lines end short of the edge by the leftmost glyph's
     overhang (7 px for "آپ کا بلڈ پریشر" at 32 px), and a full line's tails can be cut.
  3. Pillow has no font fallback: characters the language's font lacks (Latin letters,
     ``%``, ``°`` in the Urdu, Panjabi and Bengali fonts) are drawn as boxes.
  4. It is slow: it measures every prefix of every line, and Pillow sets HarfBuzz up
     again for each string (~5 ms a call with Nastaliq, whatever the length): laying out
     a three-line Urdu paragraph took ~0.8 s here; ``ShapedLabel`` takes ~0.07 s to lay
     it out and ~0.08 s to draw it (the first time; repeats come from caches).

- So ``ShapedLabel`` (``widgets.py``) breaks lines itself with :func:`wrap_text`
  (measured by the same renderer that draws, a few calls per line), gives Kivy explicit
  lines, and draws each line as :func:`visual_runs`: pieces of one direction and one
  font, in visual order, each shaped as a whole by raqm with an explicit direction.

:func:`bidi_levels` is the Unicode Bidirectional Algorithm (UAX #9,
https://www.unicode.org/reports/tr9/) for one line with a known base direction and no
explicit embeddings or isolates (rules W1-W7, N1-N2, I1-I2, L1, L2) -- what a label of
translated text needs. Explicit formatting characters are treated as neutrals; the
right-to-left and left-to-right marks (U+200F, U+200E) work as strong characters.
Rule N0 (paired brackets) is left out; ``tests/ui/test_fonts_and_text.py`` checks the
levels and the visual order against libfribidi (raqm's own bidi) with N0 off.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

#: Bidi classes that are neutral or isolate-like for rules N1/N2 here.
_ISOLATES = frozenset({"LRI", "RLI", "FSI", "PDI"})
_NEUTRAL = frozenset({"B", "S", "WS", "ON", "BN", "LRE", "RLE", "LRO", "RLO", "PDF"}) | _ISOLATES
_TRAILING_RESET = frozenset({"WS", "S", "B", "BN"}) | _ISOLATES


def wrap_text(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy word wrap: the lines of ``text`` that fit ``width`` as measured by ``measure``.

    Breaks only at whitespace; existing newlines are kept (an empty paragraph gives an
    empty line); runs of spaces between words become one space; a single word wider than
    ``width`` goes on a line of its own (it is never split: splitting an Urdu or Bengali
    word would break its shaping). ``width <= 0`` (a widget not laid out yet) breaks
    only at the newlines.

    ``measure`` must not shrink when a word is added (true of any font). Each line costs
    about log2(words left) calls, not one per word: shaping one string with Pillow and
    Noto Nastaliq Urdu takes ~5 ms here whatever its length, so calls are what count.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            lines.append("")
            continue
        if width <= 0:
            lines.append(" ".join(words))
            continue
        start = 0
        while start < len(words):
            end = _fit(words, start, width, measure)
            lines.append(" ".join(words[start:end]))
            start = end
    return lines


def _fit(words: list[str], start: int, width: float, measure: Callable[[str], float]) -> int:
    """The largest ``end`` such that ``words[start:end]`` fits; at least one word."""
    if measure(" ".join(words[start:])) <= width:  # the rest fits: the common case
        return len(words)
    low, high = start + 1, len(words) - 1  # low is taken; nothing above high fits
    while low < high:
        middle = (low + high + 1) // 2
        if measure(" ".join(words[start:middle])) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _bidi_class(ch: str) -> str:
    return unicodedata.bidirectional(ch) or "L"


def _resolve_neutrals(types: list[str], embedding: str) -> None:
    """N1/N2: a run of neutrals between two equal directions takes it, else the embedding."""
    n, i = len(types), 0
    while i < n:
        if types[i] not in _NEUTRAL:
            i += 1
            continue
        j = i
        while j < n and types[j] in _NEUTRAL:
            j += 1
        # N1: European and Arabic numbers act as R for the neutrals around them.
        before = embedding if i == 0 else ("L" if types[i - 1] == "L" else "R")
        after = embedding if j == n else ("L" if types[j] == "L" else "R")
        types[i:j] = [before if before == after else embedding] * (j - i)
        i = j


def _resolve_marks_and_arabic(types: list[str], embedding: str) -> None:
    """W1-W3: marks take the type before them; numbers after Arabic letters; AL -> R."""
    previous = embedding
    for i, t in enumerate(types):
        if t == "NSM":
            types[i] = "ON" if previous in _ISOLATES else previous
        previous = types[i]
    last_strong = embedding
    for i, t in enumerate(types):
        if t in ("L", "R", "AL"):
            last_strong = t
        elif t == "EN" and last_strong == "AL":
            types[i] = "AN"
    types[:] = ["R" if t == "AL" else t for t in types]


def _resolve_numbers(types: list[str], embedding: str) -> None:
    """W4-W7: separators and terminators join numbers; numbers after L text are L."""
    n = len(types)
    for i in range(1, n - 1):  # W4: one separator between two numbers of the same kind
        before, after = types[i - 1], types[i + 1]
        if types[i] == "ES" and before == after == "EN":
            types[i] = "EN"
        elif types[i] == "CS" and before == after and before in ("EN", "AN"):
            types[i] = before
    i = 0
    while i < n:  # W5: terminators (%, °, currency) next to European numbers
        j = i
        while j < n and types[j] == "ET":
            j += 1
        if j > i and ((i > 0 and types[i - 1] == "EN") or (j < n and types[j] == "EN")):
            types[i:j] = ["EN"] * (j - i)
        i = max(j, i + 1)
    # W6: remaining separators and terminators are neutral.
    types[:] = ["ON" if t in ("ES", "ET", "CS") else t for t in types]
    last_strong = embedding
    for i, t in enumerate(types):  # W7
        if t in ("L", "R"):
            last_strong = t
        elif t == "EN" and last_strong == "L":
            types[i] = "L"


def bidi_levels(text: str, *, rtl: bool) -> list[int]:
    """The embedding level of each character of one line (even: left to right)."""
    base = 1 if rtl else 0
    embedding = "R" if rtl else "L"
    original = [_bidi_class(ch) for ch in text]
    types = list(original)
    _resolve_marks_and_arabic(types, embedding)
    _resolve_numbers(types, embedding)
    _resolve_neutrals(types, embedding)
    # I1/I2: implicit levels.
    if base == 0:
        levels = [0 if t == "L" else 1 if t == "R" else 2 for t in types]
    else:
        levels = [1 if t == "R" else 2 for t in types]
    # L1: whitespace at the end of the line goes back to the base level.
    k = len(text)
    while k > 0 and original[k - 1] in _TRAILING_RESET:
        k -= 1
        levels[k] = base
    return levels


@dataclass(frozen=True)
class Run:
    """A piece of a line with one direction and one font, to be shaped as a whole."""

    text: str
    start: int  # index of the run's first character in the line (logical order)
    level: int
    fallback: bool  # draw with the fallback (value) font: the main font lacks a glyph

    @property
    def direction(self) -> str:
        """``"rtl"`` or ``"ltr"``: how raqm must lay out this run's characters."""
        return "rtl" if self.level % 2 else "ltr"


def visual_runs(text: str, *, rtl: bool, use_fallback: Callable[[str], bool]) -> list[Run]:
    """The runs of one line from left to right (rule L2), split where level or font changes.

    ``use_fallback(ch)`` says whether ``ch`` must be drawn with the fallback font; a
    combining mark stays with the font of the character it sits on, and a space next to
    a fallback character uses the fallback font (which must have a space).
    """
    if not text:
        return []
    levels = bidi_levels(text, rtl=rtl)
    runs: list[Run] = []
    start = 0
    flags: list[bool] = []
    for ch in text:
        if flags and unicodedata.bidirectional(ch) == "NSM":
            flags.append(flags[-1])
        else:
            flags.append(use_fallback(ch))
    # A space next to a fallback-font word takes that font's space: "128/82 mmHg" gets
    # a Latin word space, not Nastaliq's much narrower one.
    for i, ch in enumerate(text):
        if ch.isspace() and not flags[i]:
            flags[i] = (i > 0 and flags[i - 1]) or (i + 1 < len(text) and flags[i + 1])
    for i in range(1, len(text) + 1):
        if i == len(text) or levels[i] != levels[start] or flags[i] != flags[start]:
            runs.append(Run(text[start:i], start, levels[start], flags[start]))
            start = i
    # L2: from the highest level down to the lowest odd level, reverse every sequence
    # of runs at that level or higher.
    highest = max(run.level for run in runs)
    lowest_odd = min((run.level for run in runs if run.level % 2), default=highest + 1)
    for level in range(highest, lowest_odd - 1, -1):
        i = 0
        while i < len(runs):
            if runs[i].level < level:
                i += 1
                continue
            j = i
            while j < len(runs) and runs[j].level >= level:
                j += 1
            runs[i:j] = runs[i:j][::-1]
            i = j
    return runs
