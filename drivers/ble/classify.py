"""What a bleak/BlueZ failure means for a peripheral: reconnect, retry later, or stop.

One function, :func:`classify`, turns any exception from the Bluetooth stack into a
:class:`~healthhub.drivers.errors.DriverError`:

- :class:`DeviceAway` (a ``TransientDriverError``): the device is switched off, out of
  range, hung up, or BlueZ tripped over a stale connection attempt. Normal for health
  devices, which send and switch off; the transport rescans and reconnects by itself with
  backoff and does not trouble the supervisor.
- ``TransientDriverError``: something on the hub is wrong but may come right (adapter off,
  bluetoothd not running or busy); raised to the supervisor, which shows it and restarts
  the peripheral with its own backoff.
- ``PermanentDriverError``: someone must act (pair the device, fix device.yaml, grant
  access); raised to the supervisor, which leaves the peripheral in ``error``.

The BlueZ error names are those of BlueZ's D-Bus API (``doc/org.bluez.Device.rst``,
``doc/org.bluez.GattCharacteristic.rst``) as bleak raises them in
``bleak.exc.BleakDBusError.dbus_error``; each row cites the public report where real
adapters were seen to raise it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from healthhub.drivers.errors import DriverError, PermanentDriverError, TransientDriverError


class DeviceAway(TransientDriverError):
    """The device is off, out of range or hung up: rescan and reconnect, quietly."""


class Verdict(enum.Enum):
    AWAY = "away"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Rule:
    verdict: Verdict
    advice: str
    source: str  # where real adapters were seen to raise it


_PAIR = (
    "pairing failed: put the device in pairing mode and pair it once "
    "(`bluetoothctl pair ADDRESS`: BlueZ needs an agent to enter a PIN), then restart the agent"
)
_NEEDS_BOND = "the device requires pairing (bonding) first: set `pair: true` for it in device.yaml"
_NO_BLUEZ = "BlueZ (bluetoothd) is not running: `systemctl start bluetooth`"

#: BlueZ / D-Bus error names -> what they mean here.
BLUEZ_ERRORS: Mapping[str, Rule] = {
    "org.bluez.Error.InProgress": Rule(
        Verdict.AWAY,
        "a connection or discovery is already pending in BlueZ; retrying with backoff",
        "github.com/Bluetooth-Devices/bleak-retry-connector/issues/226, "
        "github.com/hbldh/bleak/pull/1282",
    ),
    "org.bluez.Error.AuthenticationFailed": Rule(
        Verdict.PERMANENT,
        _PAIR,
        "github.com/hbldh/bleak/issues/1434, github.com/hbldh/bleak/issues/1380",
    ),
    "org.bluez.Error.AuthenticationRejected": Rule(
        Verdict.PERMANENT, _PAIR, "github.com/hbldh/bleak/issues/1634"
    ),
    "org.bluez.Error.AuthenticationCanceled": Rule(
        Verdict.PERMANENT, _PAIR, "github.com/hypfvieh/bluez-dbus/issues/33"
    ),
    "org.bluez.Error.AuthenticationTimeout": Rule(
        Verdict.PERMANENT, _PAIR, "BlueZ doc/org.bluez.Device.rst, Pair()"
    ),
    "org.bluez.Error.NotPermitted": Rule(
        Verdict.PERMANENT,
        "BlueZ refused to enable indications (the device may require `pair: true`, or "
        "another program holds the characteristic)",
        "github.com/hbldh/bleak/issues/669, github.com/chrvadala/node-ble/issues/14",
    ),
    "org.bluez.Error.NotAuthorized": Rule(
        Verdict.PERMANENT, _NEEDS_BOND, "BlueZ doc/org.bluez.GattCharacteristic.rst"
    ),
    "org.bluez.Error.NotReady": Rule(
        Verdict.TRANSIENT,
        "the Bluetooth adapter is powered off or not ready: `bluetoothctl power on` "
        "(and `rfkill list` for a soft block)",
        "github.com/hbldh/bleak/pull/1147, github.com/home-assistant/core/issues/80713",
    ),
    "org.bluez.Error.NotSupported": Rule(
        Verdict.PERMANENT,
        "the adapter or the device does not support this operation",
        "BlueZ doc/org.bluez.GattCharacteristic.rst",
    ),
    "org.bluez.Error.DoesNotExist": Rule(
        Verdict.AWAY, "BlueZ no longer knows the device; rediscovering", "bleak defs.py"
    ),
    "org.bluez.Error.AlreadyExists": Rule(
        Verdict.AWAY, "BlueZ is already pairing or connecting this device", "BlueZ Pair()"
    ),
    "org.bluez.Error.AlreadyConnected": Rule(
        Verdict.AWAY, "BlueZ holds a stale connection to the device", "BlueZ Connect()"
    ),
    "org.bluez.Error.ConnectionAttemptFailed": Rule(
        Verdict.AWAY,
        "the device did not answer (page timeout): out of range or switched off",
        "BlueZ doc/org.bluez.Device.rst, Pair()",
    ),
    "org.freedesktop.DBus.Error.UnknownObject": Rule(
        Verdict.AWAY,
        "the device disappeared from BlueZ; rediscovering",
        "bleak-retry-connector DEVICE_MISSING_ERRORS; bleak bluezdbus/client.py connect()",
    ),
    "org.freedesktop.DBus.Error.ServiceUnknown": Rule(
        Verdict.TRANSIENT, _NO_BLUEZ, "github.com/mvidner/ruby-dbus/issues/65"
    ),
    "org.freedesktop.DBus.Error.NameHasNoOwner": Rule(
        Verdict.TRANSIENT, _NO_BLUEZ, "github.com/MalpenZibo/ashell/issues/125"
    ),
    "org.freedesktop.DBus.Error.NoReply": Rule(
        Verdict.TRANSIENT, "bluetoothd did not answer in time", "D-Bus specification, NoReply"
    ),
    "org.freedesktop.DBus.Error.AccessDenied": Rule(
        Verdict.PERMANENT,
        "the agent's user may not use BlueZ: run it as a member of group `bluetooth` "
        "(D-Bus policy /etc/dbus-1/system.d/bluetooth.conf)",
        "D-Bus specification, AccessDenied",
    ),
}

#: ``org.bluez.Error.Failed`` bodies that mean the radio link failed, not the hub: retry.
FAILED_BUT_AWAY: Mapping[str, str] = {
    "le-connection-abort-by-local": "github.com/hbldh/bleak/issues/1673, bleak pull/1255",
    "Software caused connection abort": "github.com/hbldh/bleak/issues/666",
    "br-connection-canceled": "bleak-retry-connector TRANSIENT_ERRORS",
    "Operation already in progress": "github.com/home-assistant/core/issues/76544",
}

# ATT error codes (Core 5.4, Vol 3, Part F, 3.4.1.1) that mean "pair first".
_SECURITY_ATT_CODES = {0x05, 0x08, 0x0C, 0x0F}
_ATT_PROCEDURE_IN_PROGRESS = 0xFE


Judgement = tuple[Verdict, str] | None


def _dbus(exc: BaseException, text: str) -> Judgement:
    from bleak.exc import BleakDBusError

    if not isinstance(exc, BleakDBusError):
        return None
    if exc.dbus_error == "org.bluez.Error.Failed":
        if any(body in (exc.dbus_error_details or "") for body in FAILED_BUT_AWAY):
            return Verdict.AWAY, f"the radio link failed: {text}"
        return Verdict.TRANSIENT, f"BlueZ reported a failure: {text}"
    rule = BLUEZ_ERRORS.get(exc.dbus_error)
    if rule is None:
        return Verdict.TRANSIENT, f"BlueZ error: {text}"
    return rule.verdict, f"{rule.advice}: {text}"


def _bleak_typed(exc: BaseException, text: str) -> Judgement:
    from bleak.exc import (
        BleakBluetoothNotAvailableError,
        BleakBluetoothNotAvailableReason,
        BleakCharacteristicNotFoundError,
        BleakDeviceNotFoundError,
    )

    if isinstance(exc, BleakDeviceNotFoundError):
        return Verdict.AWAY, f"the device is not in range or switched off: {text}"
    if isinstance(exc, BleakCharacteristicNotFoundError):
        return Verdict.PERMANENT, (
            f"the device does not offer characteristic {exc.char_specifier}: check the "
            "driver (and mode) declared for it in device.yaml"
        )
    if isinstance(exc, BleakBluetoothNotAvailableError):
        if exc.reason in (
            BleakBluetoothNotAvailableReason.POWERED_OFF,
            BleakBluetoothNotAvailableReason.UNKNOWN,
        ):
            return Verdict.TRANSIENT, (
                f"Bluetooth is not available (adapter off?): `bluetoothctl power on`: {text}"
            )
        return Verdict.PERMANENT, f"no usable Bluetooth LE adapter: {text}"
    return None


def _gatt(exc: BaseException, text: str) -> Judgement:
    from bleak.exc import BleakGATTProtocolError

    if not isinstance(exc, BleakGATTProtocolError):
        return None
    if exc.code in _SECURITY_ATT_CODES:
        return Verdict.PERMANENT, f"{_NEEDS_BOND}: {text}"
    if exc.code == _ATT_PROCEDURE_IN_PROGRESS:
        return Verdict.AWAY, f"the device is busy: {text}"
    return Verdict.TRANSIENT, f"the device refused a GATT request: {text}"


def _bleak_text(exc: BaseException, text: str) -> Judgement:
    from bleak.exc import BleakError

    if not isinstance(exc, BleakError):
        return None
    if "requires BlueZ" in text:
        return Verdict.PERMANENT, f"upgrade BlueZ: {text}"
    if "not connected" in text.lower() or "disconnected" in text.lower():
        return Verdict.AWAY, f"the device hung up: {text}"
    return Verdict.TRANSIENT, f"Bluetooth error: {text}"


def _system(exc: BaseException, text: str) -> Judgement:
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return Verdict.AWAY, "the device did not answer in time: out of range or switched off"
    if isinstance(exc, EOFError | BrokenPipeError | ConnectionResetError):
        return Verdict.TRANSIENT, f"the connection to BlueZ (D-Bus) was lost: {text}"
    if isinstance(exc, OSError):
        return Verdict.TRANSIENT, (
            "the system D-Bus is not reachable: is BlueZ installed and running? "
            f"(`systemctl status dbus bluetooth`): {type(exc).__name__}: {text}"
        )
    return None


_JUDGES = (_dbus, _bleak_typed, _gatt, _bleak_text, _system)


def classify(exc: BaseException) -> DriverError:
    """The driver error that ``exc``, raised by bleak or the OS under it, amounts to."""
    if isinstance(exc, DriverError):
        return exc
    text = str(exc) or type(exc).__name__
    for judge in _JUDGES:
        judgement = judge(exc, text)
        if judgement is not None:
            verdict, message = judgement
            break
    else:
        verdict, message = Verdict.TRANSIENT, f"unexpected failure: {type(exc).__name__}: {text}"
    if verdict is Verdict.AWAY:
        return DeviceAway(message)
    if verdict is Verdict.PERMANENT:
        return PermanentDriverError(message)
    return TransientDriverError(message)
