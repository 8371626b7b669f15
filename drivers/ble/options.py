"""Options of ``backend: ble`` peripherals in device.yaml.

.. code-block:: yaml

    - name: bp-cuff
      driver: blood_pressure
      backend: ble
      address: "A4:C1:38:0B:12:7F"   # quoted: YAML reads some unquoted addresses as numbers
      # any_device: true             # instead of address: any device in range (not for clinics)
      pair: true                     # the device must be bonded before it sends
      adapter: hci0                  # default: BlueZ's default adapter
      scan_timeout_s: 10             # one discovery round
      connect_timeout_s: 20
      stale_after_s: 900             # a reading time-stamped earlier than this is refused
      device_clock: local            # the device's clock shows the hub's local time (or utc)
      mode: spot                     # pulse_oximeter only: spot (indications, RACP) or continuous
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from healthhub.drivers.options import Options

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


class BleOptions(Options):
    # Without an address the peripheral would connect to the first device in range that
    # advertises the profile's service: any patient's own device in the waiting room too.
    # So an address is required unless `any_device: true` says that is wanted (a demo, a
    # screened room); `healthhub-agent scan` prints the address.
    address: str | None = None
    any_device: bool = False
    pair: bool = False
    adapter: str | None = Field(default=None, pattern=r"^hci[0-9]{1,3}$")
    scan_timeout_s: float = Field(default=10.0, gt=0, le=300)
    connect_timeout_s: float = Field(default=20.0, gt=0, le=120)
    # Readings stamped more than this before (or after) they arrive are refused, never
    # filed with the wrong time: old stored records, or a device clock that is wrong.
    stale_after_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    device_clock: Literal["local", "utc"] = "local"
    mode: Literal["spot", "continuous"] | None = None

    @model_validator(mode="after")
    def _address_or_any_device(self) -> BleOptions:
        if self.address is None and not self.any_device:
            raise ValueError(
                "address is required (`healthhub-agent scan` prints it); set any_device: true "
                "only to take readings from any device in range"
            )
        return self

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(
                'must be a quoted string such as "A4:C1:38:0B:12:7F" (YAML reads some '
                "unquoted addresses as numbers)"
            )
        address = value.strip().upper()
        if not _ADDRESS.match(address):
            raise ValueError(f"{value!r} is not a Bluetooth address (six hex pairs, colons)")
        return address
