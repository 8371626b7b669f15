"""Every GATT decoder by its driver name (``healthhub-agent decode --driver NAME``)."""

from __future__ import annotations

from healthhub.drivers.decoded import FrameDecoder
from healthhub.drivers.gatt import (
    blood_pressure,
    heart_rate,
    pulse_oximeter,
    thermometer,
    weight_scale,
)

#: The GATT health characteristics, by driver name; ``uuid`` is the characteristic's.
GATT_DECODERS: tuple[FrameDecoder, ...] = (
    FrameDecoder(
        blood_pressure.NAME, "GATT 0x2A35 Blood Pressure Measurement", blood_pressure.decode, 0x2A35
    ),
    FrameDecoder(weight_scale.NAME, "GATT 0x2A9D Weight Measurement", weight_scale.decode, 0x2A9D),
    FrameDecoder(
        thermometer.NAME, "GATT 0x2A1C Temperature Measurement", thermometer.decode, 0x2A1C
    ),
    FrameDecoder(
        pulse_oximeter.SPOT,
        "GATT 0x2A5E PLX Spot-Check Measurement",
        pulse_oximeter.decode_spot,
        0x2A5E,
    ),
    FrameDecoder(
        pulse_oximeter.CONTINUOUS,
        "GATT 0x2A5F PLX Continuous Measurement",
        pulse_oximeter.decode_continuous,
        0x2A5F,
    ),
    FrameDecoder(heart_rate.NAME, "GATT 0x2A37 Heart Rate Measurement", heart_rate.decode, 0x2A37),
)
