"""Colours, text sizes and target sizes of the patient UI (WCAG 2.2 AA).

Why: many patients at a health kiosk see less well, read less easily or touch less
precisely than the people who design screens. So every colour a screen may put text on,
and every size it may use, comes from here, and ``tests/ui/test_theme.py`` computes the
contrast of every pair rather than trusting anyone's eye.

- WCAG 2.2 SC 1.4.3 Contrast (Minimum): text and images of text at least 4.5:1 against
  its background. We hold *all* text to 4.5:1, including large text (where 3:1 would
  do), so a screen may change a size without re-checking colours.
  https://www.w3.org/TR/WCAG22/#contrast-minimum
- WCAG 2.2 SC 1.4.11 Non-text Contrast: boundaries of controls and focus indicators at
  least 3:1 against adjacent colours (``NON_TEXT_PAIRS``). The focus ring is drawn
  outside the control with a gap of background colour (``MIN_SPACING_DP``), so it is
  checked against ``background`` and ``surface``, not against the control's fill.
  https://www.w3.org/TR/WCAG22/#non-text-contrast
- WCAG 2.2 SC 2.5.8 Target Size (Minimum) asks for 24 CSS px; we use 48 dp
  (``MIN_TARGET_DP``) as Material and the NHS app do, and screens should prefer
  larger buttons. https://www.w3.org/TR/WCAG22/#target-size-minimum
- WCAG 2.2 SC 1.4.4 Resize Text: ``TEXT_SCALES`` are the steps of the "bigger text"
  button; screens must lay out (wrap, scroll) at the largest one.
- Contrast ratio and relative luminance are the WCAG 2.x definitions:
  https://www.w3.org/TR/WCAG22/#dfn-contrast-ratio and
  https://www.w3.org/TR/WCAG22/#dfn-relative-luminance (sRGB, threshold 0.04045).

The standard theme uses NHS identity colours (NHS Blue ``#005eb8``, NHS Dark Blue
``#003087``, the NHS service manual's text ``#212b32`` and secondary text ``#4c6272``).
``high_contrast`` is white/yellow on black, for patients who ask for it.

Use from Kivy (``.kv``): ``#:import THEMES healthhub.ui.theme.THEMES`` then
``color: THEMES["standard"].rgba("text")``; sizes are sp/dp numbers, e.g.
``font_sp(BASE_FONT_SP, scale)`` and ``dp(MIN_TARGET_DP)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def _channel(value: int) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def parse_hex(color: str) -> tuple[int, int, int]:
    """``"#1d2a3a"`` -> ``(29, 42, 58)``; anything else raises ``ValueError``."""
    if not _HEX.fullmatch(color):
        raise ValueError(f"not an RGB hex colour like '#1d2a3a': {color!r}")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB hex colour, 0 (black) to 1 (white)."""
    r, g, b = (_channel(v) for v in parse_hex(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio (L1 + 0.05) / (L2 + 0.05), from 1 to 21; order-independent."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class Theme:
    """One colour scheme; every role is an ``"#rrggbb"`` string.

    ``on_X`` is the text/icon colour on a fill of colour ``X``.
    """

    name: str
    background: str  # the screen
    surface: str  # cards, panels, text fields
    text: str
    text_muted: str  # hints, secondary text (still 4.5:1)
    primary: str  # the main action ("Start", "Next")
    on_primary: str
    secondary: str  # other actions ("Back", "Change language")
    on_secondary: str
    urgent: str  # "see a clinician now" results, errors
    on_urgent: str
    warning: str  # "mention this to your GP" results
    on_warning: str
    success: str  # "reading saved"
    on_success: str
    focus: str  # focus ring (switch/keyboard access), drawn outside the control
    border: str  # boundaries of controls and fields

    def __post_init__(self) -> None:
        for role in ROLES:
            parse_hex(getattr(self, role))  # raises ValueError on a malformed colour

    def rgba(self, role: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
        """The colour of ``role`` as Kivy's (r, g, b, a) floats in 0..1."""
        if role not in ROLES:
            raise KeyError(f"unknown colour role {role!r}; roles are {', '.join(ROLES)}")
        r, g, b = parse_hex(getattr(self, role))
        return (r / 255.0, g / 255.0, b / 255.0, alpha)

    def contrast(self, foreground: str, background: str) -> float:
        """Contrast ratio between two roles of this theme."""
        return contrast_ratio(getattr(self, foreground), getattr(self, background))


#: Every colour role, in declaration order (all fields of :class:`Theme` but ``name``).
ROLES: Final[tuple[str, ...]] = tuple(f.name for f in fields(Theme) if f.name != "name")

#: (foreground, background) role pairs that screens use for TEXT: each must reach 4.5:1
#: (SC 1.4.3) in every theme. A screen that puts text in a new combination adds it here.
TEXT_PAIRS: Final[tuple[tuple[str, str], ...]] = (
    ("text", "background"),
    ("text", "surface"),
    ("text_muted", "background"),
    ("text_muted", "surface"),
    ("on_primary", "primary"),
    ("on_secondary", "secondary"),
    ("on_urgent", "urgent"),
    ("on_warning", "warning"),
    ("on_success", "success"),
    ("primary", "background"),  # text buttons and links
    ("primary", "surface"),
    ("urgent", "background"),  # an error message under a field
    ("urgent", "surface"),
)

#: (component, adjacent colour) pairs for control boundaries and focus: 3:1 (SC 1.4.11).
NON_TEXT_PAIRS: Final[tuple[tuple[str, str], ...]] = (
    ("border", "background"),
    ("border", "surface"),
    ("focus", "background"),
    ("focus", "surface"),
    ("primary", "background"),  # a filled primary button is visible without its text
    ("urgent", "background"),
)

MIN_TEXT_CONTRAST: Final = 4.5  # SC 1.4.3
MIN_NON_TEXT_CONTRAST: Final = 3.0  # SC 1.4.11

THEMES: Final[dict[str, Theme]] = {
    "standard": Theme(
        name="standard",
        background="#f0f4f5",  # NHS pale grey: calm, less glare than white
        surface="#ffffff",
        text="#212b32",
        text_muted="#4c6272",
        primary="#005eb8",  # NHS Blue
        on_primary="#ffffff",
        secondary="#ffffff",  # outlined with `border`
        on_secondary="#003087",  # NHS Dark Blue
        urgent="#d5281b",  # NHS Emergency Red
        on_urgent="#ffffff",
        warning="#ffeb3b",  # NHS Warm Yellow
        on_warning="#212b32",
        success="#007f3b",  # NHS service manual green
        on_success="#ffffff",
        focus="#003087",
        border="#4c6272",
    ),
    "high_contrast": Theme(
        name="high_contrast",
        background="#000000",
        surface="#1a1a1a",
        text="#ffffff",
        text_muted="#d9d9d9",
        primary="#ffff00",
        on_primary="#000000",
        secondary="#000000",  # outlined with `border`
        on_secondary="#ffffff",
        urgent="#ff8080",
        on_urgent="#000000",
        warning="#ffb81c",
        on_warning="#000000",
        success="#80ff9f",
        on_success="#000000",
        focus="#00ffff",
        border="#ffffff",
    ),
}

DEFAULT_THEME: Final = "standard"

#: Steps of the "bigger text" button: 100 %, 125 %, 150 % (SC 1.4.4 asks for up to 200 %
#: without loss; screens keep working at 150 % of an already large base).
TEXT_SCALES: Final[tuple[float, ...]] = (1.0, 1.25, 1.5)

#: Body text, sp. Kiosks are read standing, at arm's length, by people with poor sight:
#: 24 sp is the floor; 26 sp leaves room for Nastaliq, which looks small at equal size.
BASE_FONT_SP: Final = 26
#: Screen titles, sp.
TITLE_FONT_SP: Final = 36
#: A measured value on a result screen ("128/82"), sp.
VALUE_FONT_SP: Final = 48
#: The smallest text a screen may show (footnotes, the clock), sp.
MIN_FONT_SP: Final = 22

#: Minimum touch target, dp (SC 2.5.8 asks for 24 CSS px; 48 dp is Material/NHS practice).
MIN_TARGET_DP: Final = 48
#: Minimum gap between targets, dp, so a tremor does not press the neighbour.
MIN_SPACING_DP: Final = 8


def font_sp(base_sp: float, scale: float) -> float:
    """``base_sp`` at a text scale (one of ``TEXT_SCALES``), never below ``MIN_FONT_SP``."""
    if scale <= 0:
        raise ValueError(f"text scale must be positive, got {scale}")
    return max(float(MIN_FONT_SP), base_sp * scale)


def theme(name: str) -> Theme:
    """The named theme; an unknown name gives the standard one (a bad config never blanks)."""
    return THEMES.get(name, THEMES[DEFAULT_THEME])
