"""Stable names for serial units: ``/dev/healthhub/bp0`` instead of ``/dev/ttyUSB0``.

The supported serial units (the ACCUTORR blood pressure monitor, the Adam MDW scale, the
receipt printer, a scanner in serial mode) reach the Pi through USB-serial adapters, and
``ttyUSB0``/``ttyUSB1`` are numbered in the order the kernel finds them, which can change at
every boot. A unit's ``serial-ports.yaml`` (in its bundle, or given to ``install``) says
which adapter each unit hangs on, by the adapter's USB identity (vendor, product and serial
number: ``udevadm info`` shows them, and ``healthhub-provision serial-ports`` lists them) or,
for adapters without a serial number, by the USB socket it is plugged into (``usb_path``,
udev's ``ID_PATH``)::

    bp0: {vendor: "0403", product: "6001", serial: "A10K3X9Q"}
    scale0: {usb_path: "platform-xhci-hcd.0-usb-0:1:1.0"}

From it :func:`render_rules` writes ``/etc/udev/rules.d/91-healthhub-names.rules``, one
``SYMLINK+="healthhub/NAME"`` rule per unit, and ``device.yaml`` names ``/dev/healthhub/bp0``.
Every value is checked against a strict pattern before it goes into a udev rule: the file
must not be a way to write arbitrary rules.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Final

import yaml

from healthhub.provisioning.errors import ProvisioningError

NAME: Final = re.compile(r"(bp|scale|oximeter|thermometer|scanner|printer)[0-9]")
_PATTERNS: Final = {
    "vendor": (re.compile(r"[0-9a-f]{4}"), "ID_VENDOR_ID"),
    "product": (re.compile(r"[0-9a-f]{4}"), "ID_MODEL_ID"),
    "serial": (re.compile(r"[A-Za-z0-9._-]{1,64}"), "ID_SERIAL_SHORT"),
    "usb_path": (re.compile(r"[A-Za-z0-9._:-]{1,160}"), "ID_PATH"),
}
HEADER: Final = (
    "# Health Hub: stable names for this unit's serial units, written by healthhub-provision\n"
    "# install from /etc/healthhub/serial-ports.yaml. Do not edit: edit that file and install.\n"
)


class SerialPortsInvalid(ProvisioningError):
    """``serial-ports.yaml`` names a unit we do not support or identifies it badly."""


def parse(text: bytes | str) -> dict[str, dict[str, str]]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SerialPortsInvalid(f"serial-ports.yaml is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SerialPortsInvalid("serial-ports.yaml must map names (bp0, scale0...) to devices")
    ports: dict[str, dict[str, str]] = {}
    for name, match in data.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise SerialPortsInvalid(
                f"{name!r} is not a unit name: bp, scale, oximeter, thermometer, scanner or "
                "printer, then one digit (bp0)"
            )
        if not isinstance(match, dict) or not match:
            raise SerialPortsInvalid(f"{name}: give vendor and product (and serial), or usb_path")
        checked: dict[str, str] = {}
        for key, value in match.items():
            if key not in _PATTERNS:
                raise SerialPortsInvalid(f"{name}: unknown key {key!r}")
            text_value = str(value).lower() if key in ("vendor", "product") else str(value)
            if not _PATTERNS[key][0].fullmatch(text_value):
                raise SerialPortsInvalid(f"{name}: {key} {value!r} is not valid")
            checked[key] = text_value
        if "usb_path" not in checked and not {"vendor", "product"} <= checked.keys():
            raise SerialPortsInvalid(f"{name}: give vendor and product (and serial), or usb_path")
        ports[name] = checked
    return ports


def render_rules(ports: dict[str, dict[str, str]]) -> str:
    lines = [HEADER]
    for name, match in sorted(ports.items()):
        keys = ", ".join(
            f'ENV{{{_PATTERNS[key][1]}}}=="{value}"' for key, value in sorted(match.items())
        )
        lines.append(
            f'SUBSYSTEM=="tty", {keys}, GROUP="dialout", MODE="0660", SYMLINK+="healthhub/{name}"\n'
        )
    return "".join(lines)


def attached(sys_root: Path = Path("/sys")) -> list[dict[str, str]]:
    """The USB serial devices plugged in now, with what ``serial-ports.yaml`` matches on."""
    found: list[dict[str, str]] = []
    for tty in sorted((sys_root / "class/tty").glob("tty[UA][SC][BM]*")):
        try:
            result = subprocess.run(
                ["udevadm", "info", "--query=property", f"--name=/dev/{tty.name}"],
                capture_output=True, text=True, timeout=10, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        properties = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        found.append(
            {"device": f"/dev/{tty.name}"}
            | {key: properties[env] for key, (_, env) in _PATTERNS.items() if env in properties}
        )
    return found
