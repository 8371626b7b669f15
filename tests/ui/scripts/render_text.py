"""Render ShapedLabels in every UI language under a real X display; write PNGs and facts.

Run by ``tests/ui/test_fonts_and_text.py`` in a subprocess (Kivy never runs in the pytest
process) with DISPLAY, KIVY_TEXT=pil, KIVY_NO_ARGS=1, KIVY_NO_FILELOG=1 and KIVY_HOME set:

    python render_text.py OUT_DIR

Writes into OUT_DIR, one screen at a time (white window, black text):

- ``text-<lang>.png``: a long multi-line paragraph in a ShapedLabel;
- ``ref-<lang>.png``: each line that ``wrap_text`` predicts, in a ShapedLabel of its own,
  stacked at the same place: if the paragraph was laid out right, both images match band
  by band;
- ``bidi-ur.png``: "NHS ..." (a right-to-left line that starts with a Latin word) over
  "NHS" alone;
- ``shaping.png``: Urdu and Bengali words as written, over the same words with ZWNJ
  between the letters (which forbids joining);
- ``compare-ur.png``: plain Kivy Labels (Nastaliq, Naskh) over a ShapedLabel, the
  evidence behind ``rtl_text.py`` and the choice of font;
- ``facts.json``: geometry and layout facts the test checks against the images.

The analysis of the pixels is the test's job, not this script's.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.config import Config

WINDOW = (1280, 800)
Config.set("graphics", "width", str(WINDOW[0]))
Config.set("graphics", "height", str(WINDOW[1]))
Config.set("graphics", "resizable", "0")

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from healthhub.ui.fonts import LATIN, NASKH, NASTALIQ  # noqa: E402
from healthhub.ui.rtl_text import wrap_text  # noqa: E402
from healthhub.ui.widgets import ShapedLabel  # noqa: E402

FONT_PX = 30
LABEL_X = 140
LABEL_WIDTH = 1000
TOP_MARGIN = 20
BLACK = (0, 0, 0, 1)

#: "Please sit down with your back supported and your feet flat on the floor. Rest your
#: arm on the table at the level of your heart and keep still and quiet while the cuff
#: tightens." -- plus, where a script needs it, a line with a reading and a Latin unit.
SAMPLES: dict[str, str] = {
    "en": (
        "Please sit down with your back supported and your feet flat on the floor. "
        "Rest your arm on the table at the level of your heart, and keep still and quiet "
        "while the cuff tightens.\nYour blood pressure is 128/82 mmHg."
    ),
    "pl": (
        "Proszę usiąść, opierając plecy, ze stopami płasko na podłodze. Proszę położyć "
        "rękę na stole na wysokości serca i siedzieć spokojnie, bez mówienia, gdy mankiet "
        "się zaciska.\nPani/Pana ciśnienie krwi wynosi 128/82 mmHg."
    ),
    "ro": (
        "Vă rugăm să vă așezați cu spatele sprijinit și cu tălpile pe podea. Sprijiniți "
        "brațul pe masă, la nivelul inimii, și stați nemișcat și în liniște cât timp "
        "manșeta se strânge.\nTensiunea dumneavoastră arterială este 128/82 mmHg."
    ),
    "pa": (
        "ਕਿਰਪਾ ਕਰਕੇ ਆਪਣੀ ਪਿੱਠ ਨੂੰ ਸਹਾਰਾ ਦੇ ਕੇ ਬੈਠੋ ਅਤੇ ਆਪਣੇ ਪੈਰ ਫਰਸ਼ 'ਤੇ ਸਿੱਧੇ ਰੱਖੋ। "
        "ਆਪਣੀ ਬਾਂਹ ਮੇਜ਼ 'ਤੇ ਦਿਲ ਦੀ ਉਚਾਈ 'ਤੇ ਰੱਖੋ ਅਤੇ ਜਦੋਂ ਕਫ਼ ਕੱਸਦਾ ਹੈ ਤਾਂ ਚੁੱਪਚਾਪ ਅਤੇ "
        "ਸ਼ਾਂਤ ਬੈਠੇ ਰਹੋ।\nਤੁਹਾਡਾ ਬਲੱਡ ਪ੍ਰੈਸ਼ਰ 128/82 mmHg ਹੈ।"
    ),
    "ur": (
        "براہ کرم اپنی کمر کو سہارا دے کر بیٹھ جائیں اور اپنے پاؤں فرش پر سیدھے رکھیں۔ "
        "اپنا بازو میز پر دل کی سطح پر رکھیں اور جب تک کف کستا ہے، خاموش اور ساکن رہیں۔"
        "\nآپ کا بلڈ پریشر 128/82 mmHg ہے\nNHS ایپ میں اپنی ریڈنگ دیکھیں"
    ),
    "pt": (
        "Sente-se com as costas apoiadas e os pés assentes no chão. Apoie o braço na mesa, "
        "à altura do coração, e fique quieto e em silêncio enquanto a braçadeira aperta."
        "\nA sua tensão arterial é 128/82 mmHg."
    ),
    "es": (
        "Siéntese con la espalda apoyada y los pies apoyados en el suelo. Apoye el brazo "
        "en la mesa a la altura del corazón y quédese quieto y en silencio mientras el "
        "manguito se aprieta.\nSu presión arterial es 128/82 mmHg."
    ),
    "bn": (
        "অনুগ্রহ করে পিঠে হেলান দিয়ে বসুন এবং পা মেঝেতে সমান করে রাখুন। আপনার হাত "
        "টেবিলের উপর হৃদযন্ত্রের উচ্চতায় রাখুন এবং কাফ শক্ত হওয়ার সময় চুপচাপ স্থির থাকুন।"
        "\nআপনার রক্তচাপ 128/82 mmHg, তাপমাত্রা 37.2 °C।"
    ),
}

ZWNJ = "\u200c"
#: (language, word) whose letters join (Urdu) or form a conjunct (Bengali) when shaped.
SHAPING_WORDS = (("ur", "پریشر"), ("ur", "رکھیں"), ("bn", "রক্তচাপ"))
BIDI_LINE = "NHS ایپ میں اپنی ریڈنگ دیکھیں"
COMPARE_TEXT = "آپ کا بلڈ پریشر 128/82 mmHg ہے\nNHS ایپ میں اپنی ریڈنگ دیکھیں"
COMPARE = (
    ("plain-nastaliq", NASTALIQ, "Kivy Label, Noto Nastaliq Urdu, KIVY_TEXT=pil, halign right"),
    ("plain-naskh", NASKH, "Kivy Label, Noto Naskh Arabic, KIVY_TEXT=pil, halign right"),
    ("shaped-nastaliq", None, "ShapedLabel(language='ur'): Nastaliq, Noto Sans for what it lacks"),
)


def unjoined(language: str, word: str) -> str:
    """``word`` with joining (Urdu) or conjuncts (Bengali, ZWNJ after the virama) broken."""
    if language == "bn":
        return word.replace("\u09cd", "\u09cd" + ZWNJ)
    return ZWNJ.join(word)


def rect(widget: Widget) -> dict[str, float]:
    """A widget's box in window coordinates (origin bottom left) and PNG rows (top)."""
    return {
        "x": widget.x,
        "y": widget.y,
        "width": widget.width,
        "height": widget.height,
        "png_top": WINDOW[1] - widget.top,
    }


class Renderer(App):  # type: ignore[misc]
    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out
        self.facts: dict[str, Any] = {"languages": {}, "window": list(WINDOW)}
        self.root_widget = Widget()
        self.steps: list[Callable[[], None]] = []
        # A screen built, waiting for its screenshot: (name, paragraph label, language) ...
        self.pending: tuple[str, ShapedLabel | None, str] | None = None
        # ... or (name, {key: widget whose box goes into the facts}).
        self.later: tuple[str, dict[str, Widget]] | None = None

    def build(self) -> Widget:
        Window.clearcolor = (1, 1, 1, 1)
        for language in SAMPLES:
            self.steps += [self.paragraph(language), self.references(language)]
        self.steps += [self.bidi_check, self.shaping_check, self.comparison, self.rewrap]
        self.steps += [self.finish]
        Clock.schedule_once(self.next_step, 0.5)
        return self.root_widget

    def next_step(self, *_args: Any) -> None:
        step = self.steps.pop(0)
        try:
            step()
        except Exception:
            self.facts["error"] = traceback.format_exc()
            self.finish()
            return
        if self.steps:
            Clock.schedule_once(self.next_step, 0.4)  # a few frames: texture, layout, draw

    def screenshot(self, name: str) -> None:
        path = Window.screenshot(name=str(self.out / f"{name}.png"))  # adds 0001
        shutil.move(path, self.out / f"{name}.png")

    def label(self, text: str, language: str, top: float, **kwargs: Any) -> ShapedLabel:
        label = ShapedLabel(
            text=text,
            language=language,
            font_size=FONT_PX,
            color=BLACK,
            size_hint=(None, None),
            width=kwargs.pop("width", LABEL_WIDTH),
            x=LABEL_X,
            **kwargs,
        )
        label.bind(texture_size=lambda w, size: setattr(w, "height", size[1]))
        label.bind(height=lambda w, _h: setattr(w, "top", top))
        label.top = top
        self.root_widget.add_widget(label)
        return label

    # -- steps: each builds a screen; the next step screenshots it first ------------------

    def paragraph(self, language: str) -> Callable[[], None]:
        def build_screen() -> None:
            self.flush()
            self.root_widget.clear_widgets()
            label = self.label(SAMPLES[language], language, WINDOW[1] - TOP_MARGIN)
            self.pending = (f"text-{language}", label, language)

        return build_screen

    def references(self, language: str) -> Callable[[], None]:
        def build_screen() -> None:
            self.flush()
            self.root_widget.clear_widgets()
            lines = self.facts["languages"][language]["predicted_lines"]
            line_height = self.facts["languages"][language]["line_height"]
            for i, line in enumerate(lines):
                self.label(line, language, WINDOW[1] - TOP_MARGIN - i * line_height)
            self.pending = (f"ref-{language}", None, language)

        return build_screen

    def flush(self) -> None:
        """Screenshot the screen the previous step built and record its facts."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        name, label, language = pending
        self.screenshot(name)
        if label is None:
            return
        core = label._label

        def measure(text: str) -> float:
            return float(core.get_extents(text)[0])

        left, _top, right, _bottom = label.padding
        width = label.width - left - right
        predicted = wrap_text(label.text, width, measure)
        tight = []  # would the next word have fitted on the line? (greedy => never)
        for paragraph in label.text.split("\n"):
            lines = wrap_text(paragraph, width, measure)
            for line, following in itertools.pairwise(lines):
                tight.append(measure(f"{line} {following.split()[0]}") > width)
        self.facts["languages"][language] = {
            "rect": rect(label),
            "rtl": label.rtl,
            "halign": label.halign,
            "font_name": label.font_name,
            "line_height": core.get_extents("")[1],
            "texture_size": list(label.texture_size),
            "wrapped_lines": list(label.wrapped_lines),
            "predicted_lines": predicted,
            "line_widths": [measure(line) for line in predicted],
            "content_width": width,
            "kivy_lines": [[word.text for word in line.words] for line in core._cached_lines],
            "greedy_tight": tight,
            "missing_glyphs": core.missing_glyphs(label.text),
        }

    def bidi_check(self) -> None:
        self.flush()
        self.root_widget.clear_widgets()
        top = WINDOW[1] - TOP_MARGIN
        line = self.label(BIDI_LINE, "ur", top)
        latin = self.label("NHS", "ur", top - 200)
        self.later = ("bidi-ur", {"line": line, "latin": latin})

    def shaping_check(self) -> None:
        self.flush_later()
        self.root_widget.clear_widgets()
        widgets: dict[str, Widget] = {}
        top = WINDOW[1] - TOP_MARGIN
        for i, (language, word) in enumerate(SHAPING_WORDS):
            widgets[f"{i}-joined"] = self.label(word, language, top)
            widgets[f"{i}-unjoined"] = self.label(unjoined(language, word), language, top - 100)
            top -= 220
        self.later = ("shaping", widgets)
        self.facts["shaping_words"] = [list(pair) for pair in SHAPING_WORDS]

    def comparison(self) -> None:
        self.flush_later()
        self.root_widget.clear_widgets()
        top = WINDOW[1] - 10
        widgets: dict[str, Widget] = {}
        for name, font, caption in COMPARE:
            self.root_widget.add_widget(
                Label(
                    text=caption,
                    font_name=LATIN.kivy_name(),
                    font_size=18,
                    color=(0.3, 0.3, 0.3, 1),
                    size_hint=(None, None),
                    size=(LABEL_WIDTH, 28),
                    text_size=(LABEL_WIDTH, 28),
                    pos=(LABEL_X, top - 28),
                )
            )
            top -= 34
            if font is None:
                widgets[name] = self.label(COMPARE_TEXT, "ur", top)
                continue
            plain = Label(
                text=COMPARE_TEXT,
                font_name=font.kivy_name(),
                font_size=FONT_PX,
                color=BLACK,
                halign="right",
                size_hint=(None, None),
                width=LABEL_WIDTH,
                x=LABEL_X,
            )
            plain.text_size = (LABEL_WIDTH, None)
            plain.bind(texture_size=lambda w, size: setattr(w, "height", size[1]))
            plain.bind(height=lambda w, _h, t=top: setattr(w, "top", t))
            self.root_widget.add_widget(plain)
            widgets[name] = plain
            top -= 200
        self.later = ("compare-ur", widgets)

    def flush_later(self) -> None:
        later, self.later = self.later, None
        if later is None:
            return
        name, widgets = later
        self.screenshot(name)
        self.facts[name] = {key: rect(widget) for key, widget in widgets.items()}

    def rewrap(self) -> None:
        """Change width, font size and language of one label; it must re-wrap each time."""
        self.flush_later()
        self.root_widget.clear_widgets()
        label = self.label(SAMPLES["ur"], "ur", WINDOW[1] - TOP_MARGIN)
        changes: list[tuple[str, Any]] = [("width", 640), ("font_size", 40), ("language", "en")]
        results: list[dict[str, Any]] = []

        def record(change: str) -> None:
            core = label._label
            left, _top, right, _bottom = label.padding

            def measure(text: str) -> float:
                return float(core.get_extents(text)[0])

            results.append(
                {
                    "change": change,
                    "rtl": label.rtl,
                    "halign": label.halign,
                    "font_name": label.font_name,
                    "wrapped_lines": list(label.wrapped_lines),
                    "predicted_lines": wrap_text(label.text, label.width - left - right, measure),
                    "texture_height": label.texture_size[1],
                    "line_height": core.get_extents("")[1],
                }
            )

        def apply(change: str) -> None:
            record(change)
            if not changes:
                self.facts["rewrap"] = results
                return
            name, value = changes.pop(0)
            setattr(label, name, value)
            Clock.schedule_once(lambda _dt: apply(name), 0.3)

        self.steps.insert(0, self.wait_rewrap)  # keep the app alive until rewrap is done
        Clock.schedule_once(lambda _dt: apply("initial"), 0.3)

    def wait_rewrap(self) -> None:
        if "rewrap" not in self.facts:
            self.steps.insert(0, self.wait_rewrap)

    def finish(self) -> None:
        self.flush()
        self.flush_later()
        (self.out / "facts.json").write_text(json.dumps(self.facts, ensure_ascii=False, indent=1))
        self.stop()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    assert os.environ.get("DISPLAY"), "DISPLAY must be set (the test's `display` fixture)"
    Renderer(out).run()
    print(json.dumps({"facts": str(out / "facts.json")}))


if __name__ == "__main__":
    main()
