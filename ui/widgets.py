"""``ShapedLabel``: a Kivy Label that shows every UI language correctly, wrapped.

Why (see ``rtl_text.py`` for what plain Kivy gets wrong, and
``tests/ui/test_fonts_and_text.py`` for the screenshots that prove this works):

- It draws with Pillow + libraqm (HarfBuzz shaping, FriBiDi), whatever ``KIVY_TEXT`` says:
  its core label is a subclass of Kivy's PIL provider. Kivy's default SDL2 provider
  leaves Urdu letters unjoined and Gurmukhi/Bengali conjuncts broken.
- The font comes from ``language`` (``fonts.font_for``); characters that font lacks
  (Latin units, ``%``, ``°`` inside Urdu, Panjabi, Bengali text) are drawn with
  ``fonts.VALUE_FONT`` instead of as boxes.
- It breaks lines itself (``rtl_text.wrap_text``, measured by the renderer that draws)
  and hands Kivy explicit lines, one string each; each line is split into bidi runs
  (``rtl_text.visual_runs``) that raqm shapes as a whole with an explicit direction.
  So an Urdu line is right to left even when it begins with "mmHg" or "NHS".
- Right-to-left languages (``i18n.LANGUAGES[...].rtl``) align to the right; ``align``
  says ``start``/``center``/``end`` in reading direction.

Re-wrapping: ``text``, ``font_size``, ``bold``, ``padding`` and (through ``text_size``)
``width`` already schedule Label's texture rebuild, a ``Clock.create_trigger`` that Label
makes in ``__init__``, so any number of changes in one frame cost one layout. ``language``
and ``align`` only set Label properties (``font_name``, ``halign``) and so ride the same
trigger. The wrapping itself happens in :meth:`ShapedLabel.texture_update`.

Use from ``.kv``: importing this module registers ``ShapedLabel`` with Kivy's Factory
(every Widget subclass is), so import it before ``Builder.load_file``::

    ShapedLabel:
        text: root.vm.instructions
        language: app.language          # "ur" -> Nastaliq, right-aligned
        font_size: sp(26) * app.text_scale
        color: app.theme.rgba("text")
        size_hint_y: None
        height: self.texture_size[1]    # grow with the wrapped text

Cost: Noto Nastaliq Urdu is slow to shape with Pillow (~5 ms a string, ~25 ms to draw a
line here; expect several times that on a Pi): a three-line Urdu paragraph takes ~0.15 s
the first time, ~0.05 s after (lines and ink boxes are cached). Render text when the
screen or language changes, not every frame. Set ``KIVY_TEXT=pil`` for the app anyway, so
plain Labels and Buttons shape their text too.

Not supported: ``markup`` (tags would show as text), ``shorten``, ``max_lines``,
``outline_width``, ``halign`` set by hand (use ``align``), ``font_name`` set by hand (it
follows ``language``; use a plain Label with ``fonts.VALUE_FONT`` for numbers).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from kivy.core.text.text_pil import LabelPIL
from kivy.properties import BooleanProperty, ListProperty, OptionProperty, StringProperty
from kivy.uix.label import Label
from PIL import ImageFont

from healthhub.ui.fonts import VALUE_FONT, check_shaping, font_for, glyph_coverage
from healthhub.ui.i18n import LANGUAGES
from healthhub.ui.rtl_text import Run, visual_runs, wrap_text

__all__ = ["ShapedCoreLabel", "ShapedLabel"]


@lru_cache(maxsize=64)
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)


def _style(run: Run, language: str) -> dict[str, Any]:
    """raqm options of a run: its direction; the UI language for the script font."""
    return (
        {"direction": run.direction}
        if run.fallback
        else {"direction": run.direction, "language": language}
    )


@lru_cache(maxsize=4096)
def _shape_line(
    text: str, font: str, fallback: str, size: int, *, rtl: bool, language: str
) -> tuple[tuple[Run, float], ...]:
    """One line as (run, advance) in visual order. Cached: shaping is the expensive part
    (Pillow sets HarfBuzz up again on every call, ~5 ms with Nastaliq), and wrapping,
    layout and drawing ask for the same lines."""
    main, spare = glyph_coverage(Path(font)), glyph_coverage(Path(fallback))

    def use_fallback(ch: str) -> bool:
        return ord(ch) not in main and ord(ch) in spare

    shaped = []
    for run in visual_runs(text, rtl=rtl, use_fallback=use_fallback):
        pil = _pil_font(fallback if run.fallback else font, size)
        shaped.append((run, pil.getlength(run.text, **_style(run, language))))
    return tuple(shaped)


@lru_cache(maxsize=1024)
def _ink_x(run: Run, font: str, size: int, language: str) -> tuple[int, int]:
    """Left and right ink edges of a run relative to its pen origin (cached, ~10 ms)."""
    box = _pil_font(font, size).getbbox(run.text, anchor="ls", **_style(run, language))
    return int(box[0]), int(box[2])


class ShapedCoreLabel(LabelPIL):  # type: ignore[misc]  # kivy is untyped
    """Kivy's PIL text provider, drawing each line as bidi runs with font fallback.

    ``language`` (BCP 47, for raqm's language-specific forms), ``rtl`` (the base
    direction of every line) and ``fallback_font`` (a font file) are set by
    :class:`ShapedLabel` before each layout. The text it gets is already broken into
    lines, so it lays them out without a width (Kivy would otherwise measure every
    prefix of every line again) and then widens the texture to ``text_size``'s width,
    so that ``halign`` works.
    """

    text_size: tuple[float | None, float | None]  # LabelBase's property (for mypy)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.language = "en"
        self.rtl = False
        self.fallback_font = VALUE_FONT.kivy_name()
        super().__init__(*args, **kwargs)

    def _size_px(self) -> int:
        return max(1, int(self.options["font_size"]))

    def _pil_fonts(self) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
        size = self._size_px()
        return _pil_font(self.options["font_name_r"], size), _pil_font(self.fallback_font, size)

    def shape(self, text: str) -> tuple[tuple[Run, float], ...]:
        """``text`` (one line) as (run, advance) pairs in visual order."""
        return _shape_line(
            text,
            self.options["font_name_r"],
            self.fallback_font,
            self._size_px(),
            rtl=self.rtl,
            language=self.language,
        )

    def missing_glyphs(self, text: str) -> str:
        """Characters of ``text`` that neither font can draw (they would be boxes)."""
        main = glyph_coverage(Path(self.options["font_name_r"]))
        fallback = glyph_coverage(Path(self.fallback_font))
        return "".join(
            dict.fromkeys(
                ch
                for ch in text
                if not ch.isspace() and ord(ch) not in main and ord(ch) not in fallback
            )
        )

    def _line_metrics(self) -> tuple[int, int]:
        """(ascent, descent) that fit both fonts, so every line has the same height."""
        main, fallback = self._pil_fonts()
        (a1, d1), (a2, d2) = main.getmetrics(), fallback.getmetrics()
        return max(a1, a2), max(d1, d2)

    def get_extents(self, text: str) -> tuple[int, int]:
        """(advance width, line height) of one line, as drawn by :meth:`_render_text`."""
        if self.options["font_size"] < 1:
            return 0, 0
        ascent, descent = self._line_metrics()
        return math.ceil(sum(advance for _run, advance in self.shape(text))), ascent + descent

    def render(self, real: bool = False) -> Any:
        if real:
            return super().render(real=True)
        width, height = self.text_size
        self.text_size = (None, height)  # lay the given lines out as they are
        try:
            size = super().render()
        finally:
            self.text_size = (width, height)
        if width is None:
            return size
        return max(size[0], int(width)), size[1]

    def _render_text(self, text: str, x: float, y: float) -> None:
        if self.options["font_size"] < 1:
            return
        color = tuple(int(c * 255) for c in self.options["color"])
        baseline = y + self._line_metrics()[0]
        main, fallback = self._pil_fonts()
        placed: list[tuple[float, Run]] = []
        pen = float(x)
        for run, advance in self.shape(text):
            placed.append((pen, run))
            pen += advance
        if not placed:
            return
        shift = self._keep_ink_inside(placed, pen)
        for start, run in placed:
            self._pil_draw.text(
                (start + shift, baseline),
                run.text,
                font=fallback if run.fallback else main,
                fill=color,
                anchor="ls",
                **_style(run, self.language),
            )

    def _keep_ink_inside(self, placed: list[tuple[float, Run]], end: float) -> float:
        """How far to move a line so its ink stays in the texture.

        Kivy places the advance box; ink may overhang it (Nastaliq's tails by ~0.2 em)
        and would be cut off at the texture's edge. Only the runs at the two ends can
        overhang, and only when they are within an em of an edge is it worth measuring.
        """
        texture_width, em = self._size[0], self._size_px()
        shift = 0.0
        start, run = placed[-1]
        if end > texture_width - em and not run.text.isspace():
            right = start + self._ink(run)[1]
            shift = min(0.0, texture_width - right)
        start, run = placed[0]
        if start + shift < em and not run.text.isspace():
            left = start + self._ink(run)[0]
            shift = max(shift, -left)
        return shift

    def _ink(self, run: Run) -> tuple[int, int]:
        font = self.fallback_font if run.fallback else self.options["font_name_r"]
        return _ink_x(run, font, self._size_px(), self.language)


class ShapedLabel(Label):  # type: ignore[misc]  # kivy is untyped
    """A Label for translated text in any UI language: shaped, wrapped to its width, bidi.

    ``language``: a code of ``i18n.LANGUAGES`` (unknown codes: Latin font, left to right).
    ``rtl``: derived from ``language`` (read only). ``align``: ``start``, ``center`` or
    ``end`` in reading direction. ``wrapped_lines``: the lines of the last layout
    (read only). The text wraps to the widget's width; let the height follow
    ``texture_size``.
    """

    language = StringProperty("en")
    rtl = BooleanProperty(False)
    align = OptionProperty("start", options=["start", "center", "end"])
    wrapped_lines = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        check_shaping()
        super().__init__(**kwargs)
        for name in ("language", "bold", "align", "width"):
            self.fbind(name, self._sync)
        self._sync()

    def _create_label(self) -> None:
        # Label makes a CoreLabel (or CoreMarkupLabel); we always use our PIL subclass.
        if not isinstance(getattr(self, "_label", None), ShapedCoreLabel):
            options = {name: getattr(self, name) for name in self._font_properties}
            options["usersize"] = self.text_size
            self._label = ShapedCoreLabel(**options)

    def _sync(self, *_args: Any) -> None:
        """Derive direction, font, alignment and wrap width from the properties."""
        language = LANGUAGES.get(self.language)
        self.rtl = bool(language and language.rtl)
        self.font_name = font_for(self.language).kivy_name(self.bold)
        start, end = ("right", "left") if self.rtl else ("left", "right")
        self.halign = {"start": start, "center": "center", "end": end}[self.align]
        self.text_size = (self.width, None)

    def texture_update(self, *largs: Any) -> None:
        """Wrap ``text`` with the current font and width, then let Label render it."""
        core = self._label
        core.language = self.language
        core.rtl = self.rtl
        core.fallback_font = VALUE_FONT.kivy_name(self.bold)
        core.resolve_font_name()
        left, _top, right, _bottom = self.padding
        lines = wrap_text(self.text, self.width - left - right, lambda s: core.get_extents(s)[0])
        core.text = "\n".join(lines)
        self.wrapped_lines = lines
        super().texture_update(*largs)
