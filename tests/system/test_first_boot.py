"""First boot: a bundle on a (fake) boot partition becomes the unit's identity, leaves the
boot partition, and the unit comes online in `healthhub-fleet status`."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest
from processes import Enrol, Service, run_cli, script, wait_until

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

pytestmark = pytest.mark.system

TAR = "healthhub-enrol.tar"
RESULT = "healthhub-enrol-result.txt"


def _image(tmp_path: Path) -> Path:
    """A staging root installed as an image is: everything but an identity."""
    root = tmp_path / "root"
    root.mkdir()
    out = run_cli("healthhub-provision", "install", "--root", str(root)).stdout
    assert "no enrolment: first boot installs healthhub-enrol.tar" in out
    assert not (root / "etc/healthhub/device.yaml").exists()
    return root


def _uid(root: Path, user: str) -> int:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"no user {user}")


def _status(fleet: FleetLayout) -> dict[str, dict[str, object]]:
    out = run_cli(
        "healthhub-fleet", "status", "--fleet", str(fleet.root), "--json", "--wait", "2"
    ).stdout
    return {row["device"]: row for row in json.loads(out)}


def test_a_bundle_on_the_boot_partition_is_installed_removed_and_the_unit_comes_online(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-5")
    boot = tmp_path / "boot"
    boot.mkdir()
    packed = run_cli(
        "healthhub-provision", "pack", str(fleet.device_dir("wall-5")), "--out", str(boot / TAR)
    )
    assert "enrolment of wall-5 (practice-a)" in packed.stdout
    assert stat.S_IMODE((boot / TAR).stat().st_mode) == 0o600
    root = _image(tmp_path)

    first = run_cli("healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root))
    assert "device wall-5 of site practice-a installed" in first.stdout
    assert not (boot / TAR).exists(), "the key must not stay on the boot partition"
    result = (boot / RESULT).read_text()
    assert "wall-5" in result
    assert "PRIVATE KEY" not in result
    key = root / "etc/healthhub/device.key"
    assert key.stat().st_uid == _uid(root, "healthhub")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == (fleet.device_dir("wall-5") / "device.key").read_bytes()
    # The next boot finds nothing to do.
    again = run_cli("healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root))
    assert "nothing to do" in again.stdout

    assert _status(fleet)["wall-5"]["state"] == "never seen"
    the_agent = Service(
        "agent-wall-5",
        [script("healthhub-agent"), "--config", str(root / "etc/healthhub/device.yaml"),
         "--state-dir", str(tmp_path / "state")],
        tmp_path,
    ).start()  # fmt: skip
    try:
        wait_until(lambda: _status(fleet)["wall-5"]["state"] == "online", 30, "wall-5 online")
    finally:
        assert the_agent.stop() == 0


@pytest.mark.parametrize(
    "member",
    [
        pytest.param(("link", "device.key"), id="a-symbolic-link"),
        pytest.param(("file", "../etc/passwd"), id="a-path-outside"),
        pytest.param(("file", "extra.sh"), id="an-unexpected-file"),
    ],
)
def test_a_tampered_bundle_is_refused_removed_and_explained(
    tmp_path: Path, member: tuple[str, str]
) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        kind, name = member
        info = tarfile.TarInfo(name)
        if kind == "link":
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/shadow"
            archive.addfile(info)
        else:
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
    (boot / TAR).write_bytes(buffer.getvalue())
    root = _image(tmp_path)
    first = run_cli(
        "healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root), check=False
    )
    assert first.returncode == 1
    assert "bundle refused, nothing installed" in first.stdout
    assert not (boot / TAR).exists()
    assert "bundle refused" in (boot / RESULT).read_text()
    assert sorted(p.name for p in (root / "etc/healthhub").iterdir()) == []


def _pack(bundle_dir: Path, boot: Path) -> None:
    run_cli("healthhub-provision", "pack", str(bundle_dir), "--out", str(boot / TAR))


def test_first_boot_names_the_serial_units_and_never_re_enrols_a_unit_as_another(
    tmp_path: Path,
) -> None:
    fleet = init_fleet(tmp_path / "fleet", name="Boot PCN")
    enrol_device(fleet, device="wall-1", site="practice-a")
    enrol_device(fleet, device="wall-2", site="practice-a")
    (fleet.device_dir("wall-1") / "serial-ports.yaml").write_text(
        'bp0: {vendor: "0403", product: "6001", serial: "A10K3X9Q"}\n'
    )
    boot = tmp_path / "boot"
    boot.mkdir()
    root = _image(tmp_path)
    _pack(fleet.device_dir("wall-1"), boot)
    run_cli("healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root))
    rules = (root / "etc/udev/rules.d/91-healthhub-names.rules").read_text()
    assert 'SYMLINK+="healthhub/bp0"' in rules
    enrolled = sorted((root / "etc/healthhub").iterdir())
    before = {path.name: path.read_bytes() for path in enrolled}

    # The same bundle again (copied twice by mistake) changes nothing; another unit's is refused.
    _pack(fleet.device_dir("wall-1"), boot)
    same = run_cli("healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root))
    assert "device wall-1 of site practice-a installed" in same.stdout
    _pack(fleet.device_dir("wall-2"), boot)
    other = run_cli(
        "healthhub-provision", "firstboot", "--boot", str(boot), "--root", str(root), check=False
    )
    assert other.returncode == 1
    assert "already enrolled as wall-1" in other.stdout
    assert not (boot / TAR).exists()
    assert {p.name: p.read_bytes() for p in (root / "etc/healthhub").iterdir()} == before
