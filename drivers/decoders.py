"""Every frame decoder the drivers use, by name: ``healthhub-agent decode --driver NAME HEX``."""

from __future__ import annotations

from collections.abc import Mapping

from healthhub.drivers.decoded import FrameDecoder
from healthhub.drivers.gatt.decoders import GATT_DECODERS
from healthhub.drivers.serial.decoders import SERIAL_DECODERS

DECODERS: Mapping[str, FrameDecoder] = {d.name: d for d in (*GATT_DECODERS, *SERIAL_DECODERS)}
