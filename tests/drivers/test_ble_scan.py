"""``healthhub-agent scan``: supported devices only, a snippet device.yaml takes, clear failures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason
from fake_bleak import NOT_READY, FakeAir, FakeDevice, dbus_error
from processes import script

from healthhub.agent import cli
from healthhub.agent.config import ConfigError, load_config
from healthhub.drivers import registry
from healthhub.drivers.ble.scan import scan, snippet
from healthhub.drivers.ble.transport import BlePeripheral
from healthhub.drivers.errors import TransientDriverError

BASE_CONFIG = """\
device: {id: kiosk-01, site: practice-a}
broker: {host: localhost, ca_file: ca.pem, cert_file: device.pem, key_file: device.key}
trust: {signing_public_key_file: signing.pub, ingest_public_key_file: ingest.pub}
"""


def nearby() -> FakeAir:
    return FakeAir(
        FakeDevice("A4:C1:38:00:00:01", {0x1810: (0x2A35,)}, (0x1810,), "BP cuff", rssi=-71),
        # an address YAML 1.1 reads as a base-60 number when unquoted
        FakeDevice("10:20:30:40:50:12", {0x181D: (0x2A9D,)}, (0x181D,), "Scale", rssi=-52),
        FakeDevice("A4:C1:38:00:00:03", {0x1822: (0x2A5E,)}, (0x180D, 0x1822), None, rssi=-60),
        FakeDevice("A4:C1:38:00:00:04", {0x180D: (0x2A37,)}, (0x180D,), "HR strap", rssi=-40),
        FakeDevice("A4:C1:38:00:00:05", {0x1800: (0x2A00,)}, (), "Headphones", rssi=-30),
        FakeDevice("A4:C1:38:00:00:06", {0x1809: (0x2A1C,)}, (0x1809,), "Thermo", in_range=False),
    )


def test_scan_lists_only_supported_devices_strongest_first() -> None:
    found = asyncio.run(scan(nearby().api(), seconds=0.01))
    assert [(d.address, d.driver) for d in found] == [
        ("10:20:30:40:50:12", "scale"),
        ("A4:C1:38:00:00:03", "pulse_oximeter"),  # advertises heart rate too
        ("A4:C1:38:00:00:01", "blood_pressure"),
    ]
    assert [d.rssi for d in found] == [-52, -60, -71]
    assert found[2].name == "BP cuff"
    assert len({d.peripheral for d in found}) == 3


def test_the_snippet_is_accepted_by_load_config_and_builds_peripherals(tmp_path: Path) -> None:
    found = asyncio.run(scan(nearby().api(), seconds=0.01))
    path = tmp_path / "device.yaml"
    path.write_text(BASE_CONFIG + snippet(found), encoding="utf-8")
    config = load_config(path)
    assert [(p.name, p.driver, p.backend) for p in config.peripherals] == [
        (d.peripheral, d.driver, "ble") for d in found
    ]
    peripherals = [registry.create(entry.spec()) for entry in config.peripherals]
    assert [p.options.address for p in peripherals if isinstance(p, BlePeripheral)] == [
        d.address for d in found
    ]


def test_an_unquoted_numeric_address_is_a_config_error_that_says_quote_it(
    tmp_path: Path,
) -> None:
    text = BASE_CONFIG + (
        "peripherals:\n  - {name: scale, driver: scale, backend: ble, address: 10:20:30:40:50:12}\n"
    )
    assert isinstance(yaml.safe_load(text)["peripherals"][0]["address"], int)  # the trap
    path = tmp_path / "device.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"peripherals\.0: .*address: .*quoted"):
        load_config(path)


def test_cli_scan_prints_devices_and_the_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.scan(["--seconds", "0.01"], api=nearby().api()) == 0
    out = capsys.readouterr().out
    assert "10:20:30:40:50:12" in out
    assert "HR strap" not in out
    assert "Headphones" not in out
    yaml_part = out.split("# add to device.yaml:\n", 1)[1]
    entries = yaml.safe_load(yaml_part)["peripherals"]
    assert entries[0] == {
        "name": "scale-405012",
        "driver": "scale",
        "backend": "ble",
        "address": "10:20:30:40:50:12",
    }


def test_cli_scan_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.scan(["--seconds", "0.01", "--json"], api=nearby().api()) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["driver"] for d in listed] == ["scale", "pulse_oximeter", "blood_pressure"]
    assert listed[2]["entry"]["address"] == "A4:C1:38:00:00:01"


def test_cli_scan_with_nothing_in_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.scan(["--seconds", "0.01"], api=FakeAir().api()) == 0
    assert "no supported health device heard" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            "no usable Bluetooth LE adapter",
        ),
        (dbus_error(*NOT_READY), "bluetoothctl power on"),
    ],
)
def test_cli_scan_without_a_usable_adapter_exits_1_with_a_message(
    error: BaseException, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.scan(["--seconds", "0.01"], api=FakeAir(scanner_error=error).api()) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_scan_errors_are_classified() -> None:
    air = FakeAir(scanner_error=dbus_error(*NOT_READY))
    with pytest.raises(TransientDriverError, match="power on"):
        asyncio.run(scan(air.api(), seconds=0.01))


def test_the_installed_command_without_bluez_exits_1_without_a_traceback(tmp_path: Path) -> None:
    # The real bleak BlueZ backend, pointed at a system bus that is not there.
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"}
    result = subprocess.run(
        [script("healthhub-agent"), "scan", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "D-Bus is not reachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("seconds", ["0", "-1", "301"])
def test_cli_scan_refuses_a_bad_duration(seconds: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.scan(["--seconds", seconds], api=FakeAir().api())
    assert exited.value.code == 2
