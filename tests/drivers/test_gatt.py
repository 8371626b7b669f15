"""GATT decoders: byte literals for every flag, special values, truncation, and fuzzing."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import run_cli

from healthhub.drivers.decoders import DECODERS
from healthhub.drivers.errors import FrameError, ImpossibleValue, NotAValue, TruncatedFrame
from healthhub.drivers.gatt import (
    blood_pressure,
    heart_rate,
    pulse_oximeter,
    thermometer,
    weight_scale,
)
from healthhub.drivers.gatt.decoders import GATT_DECODERS
from healthhub.drivers.gatt.fields import float32, sfloat

TIMESTAMP = struct.pack("<HBBBBB", 2026, 11, 23, 9, 30, 5)  # GSS Date Time, 7 bytes


def sf(mantissa: int, exponent: int = 0) -> bytes:
    """An SFLOAT as it travels: little-endian, exponent in the high nibble."""
    return (((exponent & 0xF) << 12) | (mantissa & 0x0FFF)).to_bytes(2, "little")


def fl(mantissa: int, exponent: int) -> bytes:
    return (((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)).to_bytes(4, "little")


def values(reading: object) -> dict[str, float]:
    return {c.code: c.value for c in reading.measurement.components}  # type: ignore[attr-defined]


# -- the number formats (IEEE 11073-20601) -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0072, 114.0),
        (0xF48C, 116.4),  # exponent -1, mantissa 0x48C = 1164
        (0x0FFF, -1.0),  # mantissa -1
        (0x1005, 50.0),  # exponent +1
        (0x0000, 0.0),
    ],
)
def test_sfloat_values(raw: int, value: float) -> None:
    assert sfloat(raw) == value


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (0x07FF, "NaN"),
        (0x0800, "NRes"),
        (0x07FE, "+INFINITY"),
        (0x0802, "-INFINITY"),
        (0x0801, "reserved"),
    ],
)
def test_sfloat_special_values_never_become_numbers(raw: int, name: str) -> None:
    with pytest.raises(NotAValue, match=name.replace("+", r"\+")):
        sfloat(raw)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (0x007FFFFF, "NaN"),
        (0x00800000, "NRes"),
        (0x007FFFFE, "+INFINITY"),
        (0x00800002, "-INFINITY"),
        (0x00800001, "reserved"),
    ],
)
def test_float_special_values_never_become_numbers(raw: int, name: str) -> None:
    with pytest.raises(NotAValue, match=name.replace("+", r"\+")):
        float32(raw)


def test_float_values() -> None:
    assert float32(int.from_bytes(fl(3685, -2), "little")) == 36.85
    assert float32(int.from_bytes(fl(-5, 1), "little")) == -50.0


# -- blood pressure 0x2A35 -----------------------------------------------------------------


def test_blood_pressure_minimal_mmhg() -> None:
    reading = blood_pressure.decode(bytes([0x04]) + sf(128) + sf(82) + sf(97) + sf(71))
    assert values(reading) == {"systolic": 128, "diastolic": 82, "mean_arterial": 97, "pulse": 71}
    assert reading.taken_at is None
    assert reading.notes == ()


def test_blood_pressure_every_field_in_kpa() -> None:
    status = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5)  # movement, irregular, pulse high, position
    frame = (
        bytes([0b11111])
        + sf(171, -1)  # 17.1 kPa
        + sf(109, -1)  # 10.9 kPa
        + sf(130, -1)
        + TIMESTAMP
        + sf(88)
        + bytes([3])
        + status.to_bytes(2, "little")
    )
    reading = blood_pressure.decode(frame)
    assert values(reading)["systolic"] == pytest.approx(128.3, abs=0.05)
    assert values(reading)["diastolic"] == pytest.approx(81.8, abs=0.05)
    assert reading.taken_at == datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)
    assert reading.user == 3
    assert reading.notes == (
        "body_movement",
        "irregular_pulse",
        "pulse_above_range",
        "improper_position",
    )
    assert reading.details["unit_sent"] == "kPa"


def test_blood_pressure_without_pulse_has_no_pulse() -> None:
    reading = blood_pressure.decode(bytes([0x00]) + sf(128) + sf(82) + sf(97))
    assert values(reading) == {"systolic": 128, "diastolic": 82, "mean_arterial": 97}


def test_blood_pressure_nan_mean_arterial_is_not_a_number() -> None:
    with pytest.raises(NotAValue, match="mean arterial is NaN"):
        blood_pressure.decode(
            bytes([0x04]) + sf(128) + sf(82) + (0x07FF).to_bytes(2, "little") + sf(70)
        )


def test_blood_pressure_impossible_values_are_refused() -> None:
    with pytest.raises(ImpossibleValue, match="systolic must be above diastolic"):
        blood_pressure.decode(bytes([0x04]) + sf(80) + sf(120) + sf(97) + sf(70))


def test_blood_pressure_unknown_date_is_no_date() -> None:
    unknown = struct.pack("<HBBBBB", 0, 0, 0, 0, 0, 0)
    reading = blood_pressure.decode(bytes([0x06]) + sf(128) + sf(82) + sf(97) + unknown + sf(70))
    assert reading.taken_at is None


# -- weight 0x2A9D -------------------------------------------------------------------------


def test_weight_si_with_bmi_and_height() -> None:
    frame = bytes([0b1110]) + (15600).to_bytes(2, "little") + TIMESTAMP + bytes([1])
    frame += (270).to_bytes(2, "little") + (1700).to_bytes(2, "little")
    reading = weight_scale.decode(frame)
    assert values(reading) == {"weight": 78.0}  # 15600 x 0.005 kg
    assert reading.details["bmi"] == 27.0
    assert reading.details["height_cm"] == 170.0
    assert reading.user == 1


def test_weight_imperial() -> None:
    reading = weight_scale.decode(
        bytes([0b1001])
        + (17200).to_bytes(2, "little")
        + (0).to_bytes(2, "little")
        + (670).to_bytes(2, "little")
    )
    assert values(reading)["weight"] == pytest.approx(78.02, abs=0.01)  # 172.00 lb
    assert reading.details["height_cm"] == pytest.approx(170.2, abs=0.05)  # 67.0 in


def test_weight_unsuccessful_is_not_a_value() -> None:
    with pytest.raises(NotAValue, match="unsuccessful"):
        weight_scale.decode(bytes([0x00, 0xFF, 0xFF]))


# -- temperature 0x2A1C --------------------------------------------------------------------


def test_temperature_celsius_with_site() -> None:
    reading = thermometer.decode(bytes([0b110]) + fl(3685, -2) + TIMESTAMP + bytes([3]))
    assert values(reading) == {"temperature": 36.85}
    assert reading.details["site"] == "ear"


def test_temperature_fahrenheit_is_converted() -> None:
    reading = thermometer.decode(bytes([0b001]) + fl(986, -1))  # 98.6 F
    assert values(reading)["temperature"] == pytest.approx(37.0, abs=0.01)


def test_temperature_in_kelvin_by_mistake_is_impossible() -> None:
    with pytest.raises(ImpossibleValue):
        thermometer.decode(bytes([0]) + fl(31000, -2))  # 310.00 "Celsius"


# -- pulse oximetry 0x2A5E / 0x2A5F --------------------------------------------------------


def test_plx_spot_check_with_everything() -> None:
    status = 1 << 14  # questionable
    frame = bytes([0b01111]) + sf(97) + sf(72) + TIMESTAMP + status.to_bytes(2, "little")
    frame += (0).to_bytes(3, "little") + sf(45, -1)
    reading = pulse_oximeter.decode_spot(frame)
    assert values(reading) == {"spo2": 97, "pulse": 72}
    assert reading.notes == ("questionable",)
    assert reading.details["pulse_amplitude_index"] == 4.5
    assert reading.taken_at == datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)


def test_plx_spot_check_clock_not_set_drops_the_time() -> None:
    reading = pulse_oximeter.decode_spot(bytes([0b10001]) + sf(95) + sf(80) + TIMESTAMP)
    assert reading.taken_at is None
    assert "device_clock_not_set" in reading.notes


@pytest.mark.parametrize("bit", [10, 11, 13, 15])
def test_plx_demo_test_unavailable_or_invalid_data_is_not_a_reading(bit: int) -> None:
    frame = bytes([0b010]) + sf(97) + sf(72) + (1 << bit).to_bytes(2, "little")
    with pytest.raises(NotAValue):
        pulse_oximeter.decode_spot(frame)


def test_plx_continuous_skips_fast_and_slow_to_the_status() -> None:
    frame = bytes([0b11111]) + sf(96) + sf(70) + sf(95) + sf(71) + sf(97) + sf(69)
    frame += (1 << 9).to_bytes(2, "little") + (0).to_bytes(3, "little") + sf(30, -1)
    reading = pulse_oximeter.decode_continuous(frame)
    assert values(reading) == {"spo2": 96, "pulse": 70}
    assert reading.notes == ("from_storage",)
    assert reading.details["pulse_amplitude_index"] == 3.0


# -- heart rate 0x2A37 ---------------------------------------------------------------------


def test_heart_rate_uint8_and_uint16_with_rr_intervals() -> None:
    assert values(heart_rate.decode(bytes([0x00, 72]))) == {"pulse": 72}
    frame = bytes([0b11101]) + (130).to_bytes(2, "little") + (512).to_bytes(2, "little")
    frame += (1024).to_bytes(2, "little") + (512).to_bytes(2, "little")
    reading = heart_rate.decode(frame)
    assert values(reading) == {"pulse": 130}
    assert reading.details == {"energy_expended_kj": 512, "rr_intervals_s": [1.0, 0.5]}
    assert reading.notes == ("no_skin_contact",)  # contact supported (bit 2), not detected


def test_heart_rate_zero_is_impossible() -> None:
    with pytest.raises(ImpossibleValue):
        heart_rate.decode(bytes([0x00, 0]))


# -- every decoder: truncation and fuzzing -------------------------------------------------

FULL_FRAMES = {
    "ble.blood_pressure": bytes([0b11110])
    + sf(128)
    + sf(82)
    + sf(97)
    + TIMESTAMP
    + sf(70)
    + b"\x01\x00\x00",
    "ble.weight_scale": bytes([0b1110])
    + (15600).to_bytes(2, "little")
    + TIMESTAMP
    + b"\x01"
    + (270).to_bytes(2, "little")
    + (1700).to_bytes(2, "little"),
    "ble.thermometer": bytes([0b110]) + fl(3685, -2) + TIMESTAMP + b"\x03",
    "ble.pulse_oximeter_spot": bytes([0b01111])
    + sf(97)
    + sf(72)
    + TIMESTAMP
    + b"\x00\x00"
    + b"\x00\x00\x00"
    + sf(45, -1),
    "ble.pulse_oximeter_continuous": bytes([0b11111])
    + sf(96)
    + sf(70) * 5
    + b"\x00\x00"
    + b"\x00\x00\x00"
    + sf(30, -1),
    "ble.heart_rate": bytes([0b01001]) + (72).to_bytes(2, "little") + (5).to_bytes(2, "little"),
}


def test_every_gatt_decoder_has_a_full_frame_here() -> None:
    assert set(FULL_FRAMES) == {d.name for d in GATT_DECODERS}
    assert set(FULL_FRAMES) <= set(DECODERS)


@pytest.mark.parametrize("name", sorted(FULL_FRAMES))
def test_every_truncation_of_a_full_frame_is_a_typed_error(name: str) -> None:
    decode = DECODERS[name].decode
    full = FULL_FRAMES[name]
    decode(full)  # the whole frame is a reading
    for end in range(len(full)):
        with pytest.raises(TruncatedFrame):
            decode(full[:end])


@pytest.mark.parametrize("name", sorted(d.name for d in GATT_DECODERS))
@settings(max_examples=10_000, deadline=None)
@given(data=st.binary(max_size=40))
def test_fuzz_only_the_drivers_own_errors(name: str, data: bytes) -> None:
    decode = DECODERS[name].decode
    try:
        reading = decode(data)
    except FrameError:
        return
    # Whatever got through is a measurement the protocol accepts.
    assert reading.measurement.components


def test_decode_command_prints_the_reading_or_the_typed_error() -> None:
    shown = run_cli(
        "healthhub-agent", "decode", "--driver", "ble.thermometer", "00", "650E00FE", "--json"
    )
    assert json.loads(shown.stdout)["components"] == [
        {"code": "temperature", "value": 36.85, "unit": "Cel"}
    ]
    refused = run_cli(
        "healthhub-agent", "decode", "--driver", "ble.thermometer", "00FFFF7F00", check=False
    )
    assert refused.returncode == 1
    assert refused.stdout.startswith("NotAValue: ble.thermometer temperature is NaN")
    bad = run_cli("healthhub-agent", "decode", "--driver", "ble.toaster", "00", check=False)
    assert bad.returncode == 2
