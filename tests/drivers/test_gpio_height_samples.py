"""The pure check of one ultrasonic measurement's readings: a height or a value-free refusal."""

from __future__ import annotations

import itertools
import math
import statistics
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.drivers.gpio import height_samples
from healthhub.drivers.gpio.height_samples import Geometry, Refusal, height_from
from healthhub.protocol.measurements import Measurement

MOUNT_CM = 220.0
MAX_CM = 250.0


def geometry(samples: int = 3, spread: float = 1.0) -> Geometry:
    return Geometry(MOUNT_CM, MAX_CM, samples, spread)


def test_each_check_refuses_in_order() -> None:
    g = geometry()
    assert height_from([50.0, 50.0], g) == Refusal(height_samples.too_few(2, g))
    assert height_from([50.0, 50.0, math.nan, math.inf], g) == Refusal(height_samples.too_few(2, g))
    assert height_from([50.0, 50.0, 51.5], g) == Refusal(height_samples.moved(g))
    assert height_from([MAX_CM] * 3, g) == Refusal(height_samples.NOBODY)  # out of range
    assert height_from([MOUNT_CM] * 3, g) == Refusal(height_samples.NOBODY)  # the floor
    assert height_from([MOUNT_CM - 29.9] * 3, g) == Refusal(height_samples.NOBODY)
    assert height_from([1.9] * 3, g) == Refusal(height_samples.TOO_CLOSE)
    tall = Geometry(300.0, 350.0, 3, 1.0)
    assert height_from([20.0] * 3, tall) == Refusal(height_samples.IMPLAUSIBLE)  # 280 cm


def test_the_height_is_mount_minus_the_median_to_a_millimetre() -> None:
    result = height_from([50.0, 50.6, 49.9, 50.2, 50.3], geometry(samples=5))
    assert isinstance(result, Measurement)
    assert result.kind == "body_height"
    assert result.value("height") == 169.8  # 220 - 50.2
    shortest = height_from([MOUNT_CM - 30.0] * 3, geometry())
    assert isinstance(shortest, Measurement)
    assert shortest.value("height") == 30.0  # the protocol's lower limit is measurable


def doubles(data: bytes) -> list[float]:
    """Any IEEE 754 doubles (NaN and infinities too), 8 bytes each."""
    return [x for (x,) in struct.iter_unpack("<d", data[: len(data) // 8 * 8])]


def person(data: bytes, count: int) -> list[float]:
    """Someone standing more or less still: ``count`` readings around one distance."""
    base = int.from_bytes(data[:2], "little") / 0xFFFF * 305 - 5
    sway = data[2] / 255 * 3
    jitter = itertools.islice(itertools.cycle(data[3:] or b"\x80"), count)
    return [base + (b - 127.5) / 127.5 * sway for b in jitter]


def case(data: bytes) -> tuple[list[float], int, float]:
    """Readings, samples and max spread, all from one byte string (hypothesis makes bytes
    several times faster than lists of floats: 10,000 cases stay within seconds)."""
    samples = 3 + data[0] % 18
    spread = 0.05 + data[1] / 255 * 4
    body = data[3:]
    values = person(body, samples + data[2] % 4 - 1) if data[2] % 2 else doubles(body)
    return values, samples, spread


@settings(max_examples=10_000, deadline=None)
@given(st.binary(min_size=6, max_size=243).map(case))
def test_any_readings_give_a_checked_height_or_a_known_refusal(
    generated: tuple[list[float], int, float],
) -> None:
    values, samples, spread = generated
    g = geometry(samples, spread)
    outcome = height_from(values, g)
    if isinstance(outcome, Measurement):
        valid = [v for v in values if math.isfinite(v)]
        assert len(valid) >= samples
        assert max(valid) - min(valid) <= spread
        assert height_samples.MIN_RANGE_CM <= statistics.median(valid) < MAX_CM
        expected = round(MOUNT_CM - statistics.median(valid), 1)
        assert outcome.value("height") == expected
        assert height_samples.LOWEST_HEIGHT_CM <= expected <= height_samples.HIGHEST_HEIGHT_CM
    else:
        # A reason is one of a fixed few, made of the configuration and a count only.
        assert isinstance(outcome, Refusal)
        known = {height_samples.NOBODY, height_samples.TOO_CLOSE, height_samples.IMPLAUSIBLE}
        known.add(height_samples.moved(g))
        known.update(height_samples.too_few(n, g) for n in range(samples))
        assert outcome.reason in known
