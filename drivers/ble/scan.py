"""``healthhub-agent scan``: the health devices in range, and the device.yaml lines to add them.

A device is listed when its advertisement names the service of a profile we drive
(:data:`~healthhub.drivers.ble.profiles.BY_FAMILY`); a device that advertises none (some
do, until they are bonded) is not. Heart-rate-only devices are not listed: no driver
family takes them.

The address is written quoted: YAML 1.1 reads an unquoted address made of digit pairs
below 60, such as ``10:20:30:40:50:12``, as a base-60 integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from healthhub.drivers.ble.api import BleApi
from healthhub.drivers.ble.classify import classify
from healthhub.drivers.ble.profiles import profile_for_services
from healthhub.drivers.errors import DriverError


@dataclass(frozen=True)
class FoundDevice:
    address: str
    name: str | None
    rssi: int
    driver: str
    profile: str  # the profile's title, for people
    peripheral: str  # a suggested peripheral name, unique in the list

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "rssi": self.rssi,
            "driver": self.driver,
            "profile": self.profile,
            "entry": self.entry(),
        }

    def entry(self) -> dict[str, str]:
        """The peripheral's entry in device.yaml."""
        return {
            "name": self.peripheral,
            "driver": self.driver,
            "backend": "ble",
            "address": self.address,
        }


async def scan(api: BleApi, *, seconds: float, adapter: str | None = None) -> list[FoundDevice]:
    """Listen ``seconds``; the supported devices heard, strongest first.

    Raises :class:`DriverError` (classified) when there is no adapter or BlueZ is not
    running, with what to do about it."""
    try:
        adverts = await api.discover(adapter=adapter, seconds=seconds)
    except DriverError:
        raise
    except Exception as exc:
        raise classify(exc) from exc
    found: list[FoundDevice] = []
    names: set[str] = set()
    for advert in sorted(adverts, key=lambda a: (-a.rssi, a.address)):
        profile = profile_for_services(advert.service_uuids)
        if profile is None or profile.family is None:
            continue
        address = advert.address.upper()
        base = f"{profile.family}-{address.replace(':', '')[-6:].lower()}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        found.append(
            FoundDevice(address, advert.name, advert.rssi, profile.family, profile.title, name)
        )
    return found


def snippet(found: list[FoundDevice]) -> str:
    """The ``peripherals:`` lines for device.yaml (YAML, addresses quoted)."""
    lines = ["peripherals:"]
    for device in found:
        entry = device.entry()
        lines += [
            f"  - name: {entry['name']}",
            f"    driver: {entry['driver']}",
            "    backend: ble",
            f'    address: "{entry["address"]}"',
            "    # pair: true    # if the device's manual says it must be paired first",
        ]
    return "\n".join(lines) + "\n"
