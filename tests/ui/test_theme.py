"""Theme colours meet WCAG 2.2 AA contrast, computed here for every pair the UI uses."""

from __future__ import annotations

import dataclasses

import pytest

from healthhub.ui import theme
from healthhub.ui.theme import (
    MIN_NON_TEXT_CONTRAST,
    MIN_TEXT_CONTRAST,
    NON_TEXT_PAIRS,
    ROLES,
    TEXT_PAIRS,
    THEMES,
    Theme,
    contrast_ratio,
    relative_luminance,
)

#: Written out on purpose: a role dropped from Theme must fail here, not silently pass.
REQUIRED_ROLES = (
    "background",
    "surface",
    "text",
    "text_muted",
    "primary",
    "on_primary",
    "secondary",
    "on_secondary",
    "urgent",
    "on_urgent",
    "warning",
    "on_warning",
    "success",
    "on_success",
    "focus",
    "border",
)


@pytest.mark.parametrize(
    ("foreground", "background", "expected"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#000000", 21.0),  # order does not matter
        ("#ffffff", "#ffffff", 1.0),
        ("#767676", "#ffffff", 4.54),  # the classic lightest AA grey on white
        ("#777777", "#ffffff", 4.48),  # one step lighter fails AA
        ("#005eb8", "#ffffff", 6.38),  # NHS Blue on white
        ("#595959", "#ffffff", 7.0),  # AAA grey
    ],
)
def test_contrast_ratio_known_values(foreground: str, background: str, expected: float) -> None:
    assert contrast_ratio(foreground, background) == pytest.approx(expected, abs=0.01)


def test_relative_luminance_uses_the_wcag_linearisation() -> None:
    assert relative_luminance("#000000") == 0.0
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    # 10/255 = 0.0392 is below the 0.04045 threshold: linear part c/12.92.
    assert relative_luminance("#0a0a0a") == pytest.approx((10 / 255) / 12.92)
    # Mid grey #808080: ((0.502+0.055)/1.055)^2.4 = 0.2159.
    assert relative_luminance("#808080") == pytest.approx(0.2159, abs=1e-4)
    # Channel weights: pure green is far brighter than pure blue.
    assert relative_luminance("#00ff00") == pytest.approx(0.7152)
    assert relative_luminance("#0000ff") == pytest.approx(0.0722)


@pytest.mark.parametrize("bad", ["#fff", "000000", "#gggggg", "#0000001", ""])
def test_malformed_colours_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        relative_luminance(bad)


@pytest.mark.parametrize("name", sorted(THEMES))
@pytest.mark.parametrize(("foreground", "background"), TEXT_PAIRS)
def test_text_pairs_reach_4_5_to_1(name: str, foreground: str, background: str) -> None:
    """WCAG 2.2 SC 1.4.3: text at least 4.5:1 (we hold large text to it too)."""
    t = THEMES[name]
    ratio = contrast_ratio(getattr(t, foreground), getattr(t, background))
    assert ratio >= MIN_TEXT_CONTRAST, (
        f"{name}: {foreground} {getattr(t, foreground)} on {background} "
        f"{getattr(t, background)} is {ratio:.2f}:1, below 4.5:1"
    )


@pytest.mark.parametrize("name", sorted(THEMES))
@pytest.mark.parametrize(("component", "adjacent"), NON_TEXT_PAIRS)
def test_non_text_pairs_reach_3_to_1(name: str, component: str, adjacent: str) -> None:
    """WCAG 2.2 SC 1.4.11: control boundaries and focus indicators at least 3:1."""
    ratio = THEMES[name].contrast(component, adjacent)
    assert ratio >= MIN_NON_TEXT_CONTRAST, f"{name}: {component} on {adjacent} is {ratio:.2f}:1"


def test_the_pairs_cover_every_text_role() -> None:
    foregrounds = {fg for fg, _bg in TEXT_PAIRS}
    for role in ("text", "text_muted", "on_primary", "on_secondary", "on_urgent"):
        assert role in foregrounds
    assert {"on_warning", "on_success"} <= foregrounds
    for fg, bg in TEXT_PAIRS + NON_TEXT_PAIRS:
        assert fg in ROLES, (fg, bg)
        assert bg in ROLES, (fg, bg)
    assert ("border", "background") in NON_TEXT_PAIRS
    assert ("focus", "background") in NON_TEXT_PAIRS


def test_every_theme_has_every_role() -> None:
    assert set(ROLES) == set(REQUIRED_ROLES)
    assert {"standard", "high_contrast"} <= set(THEMES)
    for name, t in THEMES.items():
        assert t.name == name
        for role in REQUIRED_ROLES:
            value = getattr(t, role)
            assert isinstance(value, str), (name, role)
            assert value.startswith("#"), (name, role)
            assert len(t.rgba(role)) == 4


def test_a_theme_cannot_be_made_without_a_role() -> None:
    complete = dataclasses.asdict(THEMES["standard"])
    del complete["focus"]
    with pytest.raises(TypeError):
        Theme(**complete)
    complete = dataclasses.asdict(THEMES["standard"])
    complete["focus"] = "yellow"
    with pytest.raises(ValueError, match="hex"):
        Theme(**complete)


def test_rgba_is_kivy_floats() -> None:
    standard = THEMES["standard"]
    assert standard.rgba("primary") == pytest.approx((0x00 / 255, 0x5E / 255, 0xB8 / 255, 1.0))
    assert standard.rgba("text", alpha=0.5)[3] == 0.5
    with pytest.raises(KeyError, match="unknown colour role"):
        standard.rgba("name")


def test_sizes_are_large_enough_for_a_kiosk() -> None:
    assert len(theme.TEXT_SCALES) >= 3
    assert theme.TEXT_SCALES[0] == 1.0
    assert list(theme.TEXT_SCALES) == sorted(theme.TEXT_SCALES)
    assert theme.TEXT_SCALES[-1] >= 1.5
    assert theme.BASE_FONT_SP >= 24
    assert theme.TITLE_FONT_SP > theme.BASE_FONT_SP
    assert theme.MIN_TARGET_DP >= 48  # SC 2.5.8 minimum is 24 CSS px
    assert theme.MIN_SPACING_DP >= 8
    for scale in theme.TEXT_SCALES:
        assert theme.font_sp(theme.BASE_FONT_SP, scale) >= theme.BASE_FONT_SP
    assert theme.font_sp(10, 1.0) == theme.MIN_FONT_SP
    with pytest.raises(ValueError, match="positive"):
        theme.font_sp(theme.BASE_FONT_SP, 0)


def test_unknown_theme_name_falls_back_to_standard() -> None:
    assert theme.theme("no-such-theme") is THEMES["standard"]
    assert theme.theme("high_contrast") is THEMES["high_contrast"]
