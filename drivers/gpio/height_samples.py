"""From ultrasonic distance readings to a body height, or a refusal that says why.

A sensor mounted ``mount_height_cm`` above the floor looks down on the patient's head:
height = mount height - distance to the head. The readings of one measurement are checked
in this order (pure function, no I/O):

1. enough echoes: at least ``samples`` readings (a reading lost to noise is retried, up to
   a bound the caller sets);
2. the spread (largest - smallest reading) is at most ``max_spread_cm``: otherwise the
   person moved, or the beam caught a shoulder on some pings and the head on others;
3. someone is there: the median is inside the sensor's range and more than the lowest
   plausible height (protocol limit, 30 cm) above the floor; otherwise the echo came from
   the floor, or from nothing;
4. nothing closer than the HC-SR04's 2 cm minimum range;
5. the height, rounded to 0.1 cm, is a plausible body height
   (:func:`healthhub.protocol.measurements.measurement`).

The median of the readings is the distance (robust to one stray echo). HC-SR04 figures
from "Ultrasonic Ranging Module HC-SR04" (ElecFreaks datasheet, as distributed with
SparkFun SEN-15569): range 2 cm to 4 m, accuracy up to 3 mm, measuring angle 15 degrees.

Refusal reasons hold no patient value (no height, no distance): they name the check and
its configured limit, and the agent logs them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from healthhub.protocol.errors import InvalidMeasurement
from healthhub.protocol.measurements import KINDS, Measurement, measurement

MIN_RANGE_CM = 2.0  # HC-SR04 datasheet: 2 cm - 400 cm
MAX_RANGE_CM = 400.0
_HEIGHT = next(spec for spec in KINDS["body_height"] if spec.code == "height")
LOWEST_HEIGHT_CM = _HEIGHT.low
HIGHEST_HEIGHT_CM = _HEIGHT.high

NOBODY = "nothing under the sensor: the echo came from the floor or from out of range"
TOO_CLOSE = f"something is closer to the sensor than its {MIN_RANGE_CM:g} cm minimum range"
IMPLAUSIBLE = (
    f"the height is outside the plausible range {LOWEST_HEIGHT_CM:g}-{HIGHEST_HEIGHT_CM:g} cm"
)


@dataclass(frozen=True)
class Geometry:
    """Where the sensor is and what one measurement needs (from the peripheral's options)."""

    mount_height_cm: float
    max_distance_cm: float
    samples: int
    max_spread_cm: float


@dataclass(frozen=True)
class Refusal:
    reason: str


def moved(geometry: Geometry) -> str:
    return (
        f"the readings spread more than {geometry.max_spread_cm:g} cm: the person moved "
        "or is not centred under the sensor"
    )


def too_few(taken: int, geometry: Geometry) -> str:
    return (
        f"only {taken} of {geometry.samples} pings echoed: the person moved "
        "or is not centred under the sensor"
    )


def height_from(readings_cm: Sequence[float], geometry: Geometry) -> Measurement | Refusal:
    """The body height that ``readings_cm`` (distances to the target) show, or why not."""
    readings = [r for r in readings_cm if math.isfinite(r)]
    if len(readings) < geometry.samples:
        return Refusal(too_few(len(readings), geometry))
    if max(readings) - min(readings) > geometry.max_spread_cm:
        return Refusal(moved(geometry))
    distance = statistics.median(readings)
    if (
        distance >= geometry.max_distance_cm
        or geometry.mount_height_cm - distance < LOWEST_HEIGHT_CM
    ):
        return Refusal(NOBODY)
    if distance < MIN_RANGE_CM:
        return Refusal(TOO_CLOSE)
    try:
        return measurement("body_height", height=round(geometry.mount_height_cm - distance, 1))
    except InvalidMeasurement:
        return Refusal(IMPLAUSIBLE)
