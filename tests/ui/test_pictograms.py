"""The pictograms: every promised PNG is committed, well formed, not blank, and up to date.

``ui/assets/draw_pictograms.py`` is the source of the PNGs. When a drawing there changes,
the PNGs must be remade (``.venv/bin/python ui/assets/draw_pictograms.py``) and committed
with it; ``test_committed_png_is_what_the_script_draws`` fails otherwise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "ui" / "assets"
REMAKE = "run `.venv/bin/python ui/assets/draw_pictograms.py` and commit the PNGs"

# The screens refer to these names: removing or renaming one is a change to the UI too.
EXPECTED = frozenset(
    {
        "steps/bp_sit.png",
        "steps/bp_sleeve.png",
        "steps/bp_cuff.png",
        "steps/bp_arm_heart.png",
        "steps/bp_start.png",
        "steps/weight_shoes.png",
        "steps/weight_stand.png",
        "steps/height_stand.png",
        "steps/spo2_finger.png",
        "steps/spo2_still.png",
        "steps/temp_forehead.png",
        "steps/temp_wait.png",
        "tiles/blood_pressure.png",
        "tiles/weight_height.png",
        "tiles/pulse_oxygen.png",
        "tiles/temperature.png",
        "tiles/questionnaire.png",
        "tiles/information.png",
        "tiles/community.png",
        "tiles/support.png",
        "tiles/contact_details.png",
        "tiles/consultation.png",
        "symbols/tick.png",
        "symbols/attention.png",
        "symbols/urgent.png",
        "symbols/info.png",
        "symbols/speaker.png",
        "symbols/language.png",
        "symbols/text_size.png",
        "symbols/contrast.png",
        "symbols/back.png",
        "symbols/home.png",
        "symbols/help.png",
        "symbols/wifi_off.png",
    }
)

SIZE = (384, 384)
CENTRE = (96, 96, 288, 288)  # the middle half of the picture
MIN_INK = 0.05  # share of the centre that must be clearly darker than the white card
# Re-drawing must give the committed pixels. A small tolerance lets a newer Pillow round
# antialiased edges differently; any real change to a drawing moves far more pixels.
CHANNEL_TOLERANCE = 8
MAX_CHANGED_PIXELS = 20


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("draw_pictograms", ASSETS / "draw_pictograms.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pictograms = _load_script()


def _committed(name: str) -> Image.Image:
    path = ASSETS / name
    assert path.is_file(), f"{name} is missing: {REMAKE}"
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.copy()


def _count(mask: Image.Image) -> int:
    """How many pixels of a mode "L" image of 0 and 255 are 255."""
    return mask.histogram()[255]


def test_script_draws_exactly_the_pictures_the_ui_uses() -> None:
    assert set(pictograms.PICTURES) == EXPECTED


def test_no_stray_png_beside_the_pictures() -> None:
    found = {
        path.relative_to(ASSETS).as_posix()
        for folder in ("steps", "tiles", "symbols")
        for path in (ASSETS / folder).glob("*.png")
    }
    assert found <= EXPECTED, f"not drawn by the script: {sorted(found - EXPECTED)}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_png_is_a_384px_rgba_card_with_ink(name: str) -> None:
    image = _committed(name)
    assert image.size == SIZE
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0, "the card's rounded corner is transparent"
    for inside in ((60, 16, 324, 368), (16, 60, 368, 324)):  # the card, less its corners
        assert alpha.crop(inside).getextrema() == (255, 255), "the card is opaque"
    centre = image.crop(CENTRE).convert("L")
    ink = _count(centre.point(lambda v: 255 if v < 200 else 0))
    assert ink >= MIN_INK * centre.width * centre.height, f"{name} is blank in the middle"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_png_is_what_the_script_draws(name: str) -> None:
    committed = _committed(name)
    fresh = pictograms.render(name)
    assert fresh.size == committed.size
    assert fresh.mode == committed.mode
    diff = ImageChops.difference(fresh, committed).split()
    largest = diff[0]
    for channel in diff[1:]:
        largest = ImageChops.lighter(largest, channel)
    changed = _count(largest.point(lambda v: 255 if v > CHANNEL_TOLERANCE else 0))
    assert changed <= MAX_CHANGED_PIXELS, f"{name}: {changed} pixels differ: {REMAKE}"
