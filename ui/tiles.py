"""What each home-screen tile measures, and the steps shown before measuring.

The steps follow how the measurement must be taken for the reading to be
valid: blood pressure per NICE NG136 recommendation 1.2 and the British and
Irish Hypertension Society's "How to measure blood pressure" (seated, back
supported, feet flat, legs uncrossed, arm supported at heart level, cuff on a
bare upper arm, rest 5 minutes, stay still and quiet); weight without shoes
and heavy items; height standing straight with heels to the rule; pulse
oximetry with the hand warm and still at rest, without nail varnish
(MHRA, "Pulse oximeters: how to use them", 2021).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from healthhub.ui.i18n import N_

ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class Step:
    picture: str  # under assets/
    text: str  # N_ text


@dataclass(frozen=True)
class Tile:
    name: str
    title: str
    icon: str
    kinds: tuple[str, ...]
    steps: tuple[Step, ...]


TILES: Mapping[str, Tile] = {
    tile.name: tile
    for tile in (
        Tile(
            "blood_pressure",
            N_("Blood pressure"),
            "tiles/blood_pressure.png",
            ("blood_pressure",),
            (
                Step(
                    "steps/bp_sit.png",
                    N_(
                        "Sit down with your back against the chair and both feet flat on the floor."
                    ),
                ),
                Step(
                    "steps/bp_sleeve.png",
                    N_("Roll up your sleeve, or take off any tight clothing on your arm."),
                ),
                Step(
                    "steps/bp_cuff.png",
                    N_("Put the cuff on your bare upper arm, about two fingers above your elbow."),
                ),
                Step(
                    "steps/bp_arm_heart.png",
                    N_("Rest your arm on the table so the cuff is at the height of your heart."),
                ),
                Step(
                    "steps/bp_start.png",
                    N_("Sit quietly for a moment. Do not talk or move while the cuff tightens."),
                ),
            ),
        ),
        Tile(
            "weight_height",
            N_("Weight and height"),
            "tiles/weight_height.png",
            ("body_weight", "body_height"),
            (
                Step(
                    "steps/weight_shoes.png",
                    N_("Take off your shoes, and empty heavy things from your pockets."),
                ),
                Step(
                    "steps/weight_stand.png",
                    N_("Stand still in the middle of the scale with your arms by your sides."),
                ),
                Step(
                    "steps/height_stand.png",
                    N_("Stand up straight with your heels against the wall and look ahead."),
                ),
            ),
        ),
        Tile(
            "pulse_oxygen",
            N_("Pulse and oxygen"),
            "tiles/pulse_oxygen.png",
            ("oxygen_saturation",),
            (
                Step(
                    "steps/spo2_finger.png",
                    N_("Put a finger all the way into the clip. Nail varnish can stop it working."),
                ),
                Step(
                    "steps/spo2_still.png",
                    N_("Rest your hand on the table and keep it still until the reading shows."),
                ),
            ),
        ),
        Tile(
            "temperature",
            N_("Temperature"),
            "tiles/temperature.png",
            ("body_temperature",),
            (
                Step(
                    "steps/temp_forehead.png",
                    N_("Hold the thermometer a few centimetres from the middle of your forehead."),
                ),
                Step("steps/temp_wait.png", N_("Keep still until it beeps.")),
            ),
        ),
        # What pushed content offers: no device, no steps; each shows only when the unit
        # holds the content it opens (Journey.offered_tiles).
        Tile("questionnaires", N_("Questionnaires"), "tiles/questionnaire.png", (), ()),
        Tile("my_details", N_("Change my details"), "tiles/contact_details.png", (), ()),
        Tile("consultation", N_("Ask for a consultation"), "tiles/consultation.png", (), ()),
        Tile("information", N_("Health information"), "tiles/information.png", (), ()),
        Tile("services", N_("Groups and services near you"), "tiles/community.png", (), ()),
        Tile("support", N_("Help with going online"), "tiles/support.png", (), ()),
    )
}
