"""Enrolment bundles are checked whole before install; serial-ports.yaml cannot write rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.bundle import BundleInvalid, pack, read_bundle
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet
from healthhub.provisioning.serial_names import SerialPortsInvalid, parse, render_rules


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> FleetLayout:
    fleet = init_fleet(tmp_path_factory.mktemp("fleet") / "f", name="Bundle PCN")
    for device in ("wall-1", "wall-2"):
        enrol_device(fleet, device=device, site="practice-a")
    return fleet


def _copy(source: Path, to: Path) -> Path:
    to.mkdir()
    for path in source.iterdir():
        (to / path.name).write_bytes(path.read_bytes())
    return to


def test_a_folder_and_its_tar_read_the_same(layout: FleetLayout, tmp_path: Path) -> None:
    folder = read_bundle(layout.device_dir("wall-1"))
    packed = pack(layout.device_dir("wall-1"), tmp_path / "b.tar")
    assert (folder.device, folder.site) == ("wall-1", "practice-a")
    assert read_bundle(tmp_path / "b.tar").files == folder.files == packed.files
    with pytest.raises(BundleInvalid, match="exists"):
        pack(layout.device_dir("wall-1"), tmp_path / "b.tar")


def test_another_devices_key_is_refused(layout: FleetLayout, tmp_path: Path) -> None:
    bundle = _copy(layout.device_dir("wall-1"), tmp_path / "b")
    (bundle / "device.key").write_bytes((layout.device_dir("wall-2") / "device.key").read_bytes())
    with pytest.raises(BundleInvalid, match=r"device\.key is not the key of device\.crt"):
        read_bundle(bundle)


def test_a_certificate_of_another_device_is_refused(layout: FleetLayout, tmp_path: Path) -> None:
    bundle = _copy(layout.device_dir("wall-1"), tmp_path / "b")
    for name in ("device.crt", "device.key"):
        (bundle / name).write_bytes((layout.device_dir("wall-2") / name).read_bytes())
    with pytest.raises(BundleInvalid, match="not the certificate of device wall-1"):
        read_bundle(bundle)


def test_an_expired_certificate_is_refused(layout: FleetLayout) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20 * 365)
    with pytest.raises(BundleInvalid, match="check the clock or re-enrol"):
        read_bundle(layout.device_dir("wall-1"), now=later)


def test_at_first_boot_a_clock_behind_does_not_refuse_the_bundle(layout: FleetLayout) -> None:
    """A Pi's first boot runs on the clock its image saved, before the certificate existed."""
    image_built = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    with pytest.raises(BundleInvalid, match="check the clock"):
        read_bundle(layout.device_dir("wall-1"), now=image_built)
    bundle = read_bundle(layout.device_dir("wall-1"), now=image_built, dates=False)
    assert bundle.device == "wall-1"


def test_a_bad_serial_ports_file_refuses_the_bundle(layout: FleetLayout, tmp_path: Path) -> None:
    bundle = _copy(layout.device_dir("wall-1"), tmp_path / "b")
    (bundle / "serial-ports.yaml").write_text('shell0: {usb_path: "x"}\n')
    with pytest.raises(BundleInvalid, match="not a unit name"):
        read_bundle(bundle)


def test_a_missing_file_or_broken_config_is_refused(layout: FleetLayout, tmp_path: Path) -> None:
    bundle = _copy(layout.device_dir("wall-1"), tmp_path / "b")
    (bundle / "ingest.pub").unlink()
    with pytest.raises(BundleInvalid, match=r"ingest\.pub"):
        read_bundle(bundle)
    other = _copy(layout.device_dir("wall-1"), tmp_path / "c")
    (other / "device.yaml").write_text("device: [1, 2\n")
    with pytest.raises(BundleInvalid, match=r"device\.yaml"):
        read_bundle(other)
    (tmp_path / "not.tar").write_bytes(b"\0" * 100)
    with pytest.raises(BundleInvalid, match="not a readable tar"):
        read_bundle(tmp_path / "not.tar")


def test_serial_port_names_become_udev_symlinks() -> None:
    ports = parse(
        'bp0: {vendor: "0403", product: "6001", serial: "A10K3X9Q"}\n'
        'scale0: {usb_path: "platform-xhci-hcd.0-usb-0:1:1.0"}\n'
    )
    rules = render_rules(ports).splitlines()
    assert rules[-2].endswith('SYMLINK+="healthhub/bp0"')
    assert rules[-1] == (
        'SUBSYSTEM=="tty", ENV{ID_PATH}=="platform-xhci-hcd.0-usb-0:1:1.0", '
        'GROUP="dialout", MODE="0660", SYMLINK+="healthhub/scale0"'
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('bp0: {usb_path: "x\\", RUN+=\\"/bin/sh"}', "usb_path"),  # a rule smuggled in a value
        ('shell0: {usb_path: "x"}', "not a unit name"),
        ('bp0: {vendor: "0403"}', "vendor and product"),
        ('bp0: {vendor: "0403", product: "6001", program: "/bin/sh"}', "unknown key"),
        ("- bp0", "must map names"),
    ],
)
def test_serial_ports_that_could_write_rules_are_refused(text: str, reason: str) -> None:
    with pytest.raises(SerialPortsInvalid, match=reason):
        parse(text)


def test_a_device_yaml_that_points_outside_the_bundle_is_refused(
    layout: FleetLayout, tmp_path: Path
) -> None:
    bundle = _copy(layout.device_dir("wall-1"), tmp_path / "b")
    text = (bundle / "device.yaml").read_text()
    (bundle / "device.yaml").write_text(text.replace("device.key", "/etc/shadow"))
    with pytest.raises(BundleInvalid, match=r"must name the bundle's files: device\.key"):
        read_bundle(bundle)
