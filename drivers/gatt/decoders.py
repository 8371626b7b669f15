"""Every GATT decoder by its driver name (``healthhub-agent decode --driver NAME``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from healthhub.drivers.gatt import (
    blood_pressure,
    heart_rate,
    pulse_oximeter,
    thermometer,
    weight_scale,
)
from healthhub.drivers.gatt.reading import GattReading

Decoder = Callable[[bytes], GattReading]

#: driver name -> (characteristic UUID, decoder)
DECODERS: Mapping[str, tuple[int, Decoder]] = {
    blood_pressure.NAME: (0x2A35, blood_pressure.decode),
    weight_scale.NAME: (0x2A9D, weight_scale.decode),
    thermometer.NAME: (0x2A1C, thermometer.decode),
    pulse_oximeter.SPOT: (0x2A5E, pulse_oximeter.decode_spot),
    pulse_oximeter.CONTINUOUS: (0x2A5F, pulse_oximeter.decode_continuous),
    heart_rate.NAME: (0x2A37, heart_rate.decode),
}
