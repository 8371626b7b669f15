"""classify(): every BlueZ error we know, and bleak's own exceptions, to the right driver error.

The expectations are written out here, not read from the table under test, and every row
of the table must appear: a new BlueZ error in the table needs a line here.
"""

from __future__ import annotations

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from healthhub.drivers.ble.classify import BLUEZ_ERRORS, FAILED_BUT_AWAY, DeviceAway, classify
from healthhub.drivers.errors import (
    DriverError,
    PermanentDriverError,
    TransientDriverError,
)

AWAY, TRANSIENT, PERMANENT = "away", "transient", "permanent"

# (D-Bus error name, body as BlueZ sends it, expected verdict, advice the message must carry)
BLUEZ = [
    ("org.bluez.Error.InProgress", "In Progress", AWAY, "retrying"),
    ("org.bluez.Error.AuthenticationFailed", "Authentication Failed", PERMANENT, "pair"),
    ("org.bluez.Error.AuthenticationRejected", "Authentication Rejected", PERMANENT, "pair"),
    ("org.bluez.Error.AuthenticationCanceled", "Authentication Canceled", PERMANENT, "pair"),
    ("org.bluez.Error.AuthenticationTimeout", "Authentication Timeout", PERMANENT, "pair"),
    ("org.bluez.Error.NotPermitted", "Notify acquired", PERMANENT, "pair: true"),
    ("org.bluez.Error.NotAuthorized", "Operation Not Authorized", PERMANENT, "pair: true"),
    ("org.bluez.Error.NotReady", "Resource Not Ready", TRANSIENT, "power on"),
    ("org.bluez.Error.NotSupported", "Operation is not supported", PERMANENT, "support"),
    ("org.bluez.Error.DoesNotExist", "Does Not Exist", AWAY, "rediscover"),
    ("org.bluez.Error.AlreadyExists", "Already Exists", AWAY, "already"),
    ("org.bluez.Error.AlreadyConnected", "Already Connected", AWAY, "stale"),
    ("org.bluez.Error.ConnectionAttemptFailed", "Page Timeout", AWAY, "out of range"),
    (
        "org.freedesktop.DBus.Error.UnknownObject",
        "Method Connect ... doesn't exist",
        AWAY,
        "disappeared",
    ),
    (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "The name org.bluez was not provided",
        TRANSIENT,
        "systemctl start bluetooth",
    ),
    (
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "Could not activate org.bluez",
        TRANSIENT,
        "systemctl start bluetooth",
    ),
    ("org.freedesktop.DBus.Error.NoReply", "Did not receive a reply", TRANSIENT, "did not answer"),
    ("org.freedesktop.DBus.Error.AccessDenied", "Rejected send message", PERMANENT, "bluetooth"),
    ("org.bluez.Error.Failed", "le-connection-abort-by-local", AWAY, "radio link"),
    ("org.bluez.Error.Failed", "Software caused connection abort", AWAY, "radio link"),
    ("org.bluez.Error.Failed", "br-connection-canceled", AWAY, "radio link"),
    ("org.bluez.Error.Failed", "Operation already in progress", AWAY, "radio link"),
    ("org.bluez.Error.Failed", "Input/output error", TRANSIENT, "failure"),
    ("org.bluez.Error.SomethingNew", "a future BlueZ error", TRANSIENT, "BlueZ error"),
]


def verdict(error: DriverError) -> str:
    if isinstance(error, DeviceAway):
        return AWAY
    if isinstance(error, PermanentDriverError):
        return PERMANENT
    assert isinstance(error, TransientDriverError)
    return TRANSIENT


@pytest.mark.parametrize(("name", "body", "expected", "advice"), BLUEZ)
def test_bluez_errors(name: str, body: str, expected: str, advice: str) -> None:
    error = classify(BleakDBusError(name, [body]))
    assert verdict(error) == expected
    assert advice in str(error)
    assert name in str(error)  # the original error stays readable


def test_every_bluez_error_in_the_table_is_tested_here() -> None:
    tested = {name for name, *_ in BLUEZ}
    assert set(BLUEZ_ERRORS) <= tested
    assert {body for name, body, *_ in BLUEZ if name == "org.bluez.Error.Failed"} >= set(
        FAILED_BUT_AWAY
    )


@pytest.mark.parametrize(
    ("exc", "expected", "advice"),
    [
        (BleakDeviceNotFoundError("A4:C1:38:00:00:01", "not found"), AWAY, "not in range"),
        (
            BleakCharacteristicNotFoundError("00002a35-0000-1000-8000-00805f9b34fb"),
            PERMANENT,
            "2a35",
        ),
        (BleakGATTProtocolError(0x05), PERMANENT, "pair: true"),  # Insufficient Authentication
        (BleakGATTProtocolError(0x0F), PERMANENT, "pair: true"),  # Insufficient Encryption
        (BleakGATTProtocolError(0xFE), AWAY, "busy"),  # Procedure Already in Progress
        (BleakGATTProtocolError(0x0E), TRANSIENT, "refused"),  # Unlikely Error
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            PERMANENT,
            "no usable Bluetooth LE adapter",
        ),
        (
            BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found.",
                BleakBluetoothNotAvailableReason.POWERED_OFF,
            ),
            TRANSIENT,
            "power on",
        ),
        (
            BleakBluetoothNotAvailableError(
                "auth", BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM
            ),
            PERMANENT,
            "adapter",
        ),
        (BleakError("Bleak requires BlueZ >= 5.55."), PERMANENT, "upgrade BlueZ"),
        (BleakError("Not connected"), AWAY, "hung up"),
        (BleakError("failed to discover services, device disconnected"), AWAY, "hung up"),
        (BleakError("Service Discovery has not been performed yet"), TRANSIENT, "Bluetooth"),
        (TimeoutError(), AWAY, "did not answer"),
        (FileNotFoundError(2, "No such file or directory"), TRANSIENT, "D-Bus is not reachable"),
        (ConnectionRefusedError(111, "Connection refused"), TRANSIENT, "D-Bus is not reachable"),
        (EOFError(), TRANSIENT, "D-Bus"),
        (BrokenPipeError(32, "Broken pipe"), TRANSIENT, "D-Bus"),
        (ValueError("odd"), TRANSIENT, "ValueError"),
    ],
)
def test_bleak_and_system_exceptions(exc: BaseException, expected: str, advice: str) -> None:
    error = classify(exc)
    assert verdict(error) == expected
    assert advice in str(error)


def test_a_driver_error_is_its_own_classification() -> None:
    error = PermanentDriverError("already classified")
    assert classify(error) is error
