"""`healthhub-provision install` into a staging root: owners, modes, files, a working venv,
and a second run that changes nothing."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from processes import run_cli, tree

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

pytestmark = pytest.mark.system

UNIT_FIRSTBOOT = "healthhub-firstboot.service"


def _users(root: Path) -> dict[str, tuple[int, int]]:
    rows = (line.split(":") for line in (root / "etc/passwd").read_text().splitlines())
    return {r[0]: (int(r[2]), int(r[3])) for r in rows}


def _members(root: Path) -> dict[str, set[str]]:
    rows = (line.split(":") for line in (root / "etc/group").read_text().splitlines())
    return {r[0]: set(filter(None, r[3].split(","))) for r in rows}


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> FleetLayout:
    layout = init_fleet(tmp_path_factory.mktemp("fleet") / "f", name="Install PCN")
    enrol_device(layout, device="wall-7", site="practice-a", simulate=True)
    return layout


@pytest.fixture(scope="module")
def installed(fleet: FleetLayout, wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    ports = tmp_path_factory.mktemp("ports") / "serial-ports.yaml"
    ports.write_text('bp0: {vendor: "0403", product: "6001", serial: "A10K3X9Q"}\n')
    run_cli(
        "healthhub-provision", "install", "--root", str(root), "--wheels", str(wheels),
        "--bundle", str(fleet.device_dir("wall-7")), "--serial-ports", str(ports),
        timeout=900,
    )  # fmt: skip
    return root


def test_users_folders_and_secrets_have_their_owners_and_modes(installed: Path) -> None:
    users = _users(installed)
    agent, ui = users["healthhub"], users["healthhub-ui"]
    members = _members(installed)
    for group in ("bluetooth", "dialout", "gpio"):
        assert "healthhub" in members[group]
    assert "healthhub-ui" in members["healthhub"]
    assert "healthhub-ui" not in members["dialout"]
    healthhub_gid = agent[1]
    etc = installed / "etc/healthhub"
    assert _owner_mode(etc) == (0, healthhub_gid, 0o750)
    assert _owner_mode(etc / "device.key") == (agent[0], healthhub_gid, 0o600)
    for name in ("device.yaml", "device.crt", "ca.crt", "signing.pub", "ingest.pub"):
        assert _owner_mode(etc / name) == (0, healthhub_gid, 0o640), name
    assert _owner_mode(installed / "var/lib/healthhub") == (agent[0], healthhub_gid, 0o750)
    assert _owner_mode(installed / "var/lib/healthhub-ui")[:2] == ui
    # The installed device.yaml keeps state where the unit's services look for it.
    assert "state_dir: /var/lib/healthhub\n" in (etc / "device.yaml").read_text()
    assert "id: wall-7" in (etc / "device.yaml").read_text()


def test_units_rules_and_tmpfiles_are_installed_and_enabled(installed: Path) -> None:
    units = installed / "etc/systemd/system"
    for unit in ("healthhub-agent.service", "healthhub-kiosk.service", UNIT_FIRSTBOOT):
        assert _owner_mode(units / unit) == (0, 0, 0o644)
        wanted = units / "multi-user.target.wants" / unit
        assert os.readlink(wanted) == f"/etc/systemd/system/{unit}"
    # software updates: the path unit is enabled and starts the updater, which is not
    assert os.readlink(units / "multi-user.target.wants/healthhub-update.path") == (
        "/etc/systemd/system/healthhub-update.path"
    )
    assert _owner_mode(units / "healthhub-update.service") == (0, 0, 0o644)
    assert not (units / "multi-user.target.wants/healthhub-update.service").exists()
    names = (installed / "etc/udev/rules.d/91-healthhub-names.rules").read_text()
    assert (
        'SUBSYSTEM=="tty", ENV{ID_MODEL_ID}=="6001", ENV{ID_SERIAL_SHORT}=="A10K3X9Q", '
        'ENV{ID_VENDOR_ID}=="0403", GROUP="dialout", MODE="0660", SYMLINK+="healthhub/bp0"'
    ) in names
    assert (installed / "etc/udev/rules.d/90-healthhub-serial.rules").is_file()
    assert (
        "healthhub-kiosk.service"
        in (installed / "etc/polkit-1/rules.d/50-healthhub.rules").read_text()
    )
    assert "d /var/lib/healthhub " in (installed / "etc/tmpfiles.d/healthhub.conf").read_text()


def test_the_package_runs_from_its_own_venv_at_the_units_paths(installed: Path) -> None:
    venv = installed / "opt/healthhub/venv"
    assert os.readlink(venv) == "releases/0.1.0/venv"
    script = (venv / "bin/healthhub-agent").read_text().splitlines()[0]
    assert script == "#!/opt/healthhub/releases/0.1.0/venv/bin/python"  # not the staging path
    result = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import healthhub.agent.cli, sys; print(healthhub.agent.cli.__file__)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    loaded = Path(result.stdout.strip()).resolve()
    assert loaded.is_relative_to(installed.resolve() / "opt/healthhub/releases/0.1.0/venv")


def test_a_second_install_changes_nothing(
    installed: Path, fleet: FleetLayout, wheels: Path, tmp_path: Path
) -> None:
    before = tree(installed)
    ports = tmp_path / "serial-ports.yaml"
    ports.write_text((installed / "etc/healthhub/serial-ports.yaml").read_text())
    again = run_cli(
        "healthhub-provision", "install", "--root", str(installed), "--wheels", str(wheels),
        "--bundle", str(fleet.device_dir("wall-7")), "--serial-ports", str(ports),
    )  # fmt: skip
    assert "nothing changed: already installed" in again.stdout
    assert tree(installed) == before


def test_a_changed_mode_is_put_right(installed: Path, fleet: FleetLayout) -> None:
    """The check above can fail: a key someone made readable is found and fixed."""
    key = installed / "etc/healthhub/device.key"
    key.chmod(0o644)
    again = run_cli(
        "healthhub-provision", "install", "--root", str(installed),
        "--bundle", str(fleet.device_dir("wall-7")),
    )  # fmt: skip
    assert "mode of /etc/healthhub/device.key set to 0600" in again.stdout
    assert _owner_mode(key)[2] == 0o600


def test_a_bad_bundle_installs_nothing(fleet: FleetLayout, tmp_path: Path) -> None:
    other = init_fleet(tmp_path / "other", name="Another PCN")
    enrol_device(other, device="wall-7", site="practice-a")
    forged = tmp_path / "forged"
    forged.mkdir()
    for path in fleet.device_dir("wall-7").iterdir():
        (forged / path.name).write_bytes(path.read_bytes())
    # another fleet's certificate and key for the same id: not issued by this bundle's CA
    for name in ("device.crt", "device.key"):
        (forged / name).write_bytes((other.device_dir("wall-7") / name).read_bytes())
    root = tmp_path / "root"
    root.mkdir()
    result = run_cli(
        "healthhub-provision", "install", "--root", str(root), "--bundle", str(forged),
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "device.crt was not issued by the bundle's ca.crt" in result.stderr
    assert list(root.iterdir()) == []
