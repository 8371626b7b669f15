"""``healthhub-provision install``: the appliance onto a unit, or into a staging root.

In order, each step idempotent (a second run changes nothing and says so):

1. the system users ``healthhub`` and ``healthhub-ui`` (``sysusers.d``, applied with
   ``systemd-sysusers``, which also works on a staging root);
2. the folders of ``tmpfiles.d`` (``/etc/healthhub`` 0750 root:healthhub,
   ``/var/lib/healthhub`` 0750 healthhub);
3. udev rules (serial units for group ``dialout``; stable ``/dev/healthhub/*`` names from
   ``serial-ports.yaml``) and the polkit rule that lets the agent restart the UI and reboot;
4. the package in its own venv from a wheel set (:mod:`~.venv_release`), switched to;
5. the systemd units, enabled;
6. with ``--bundle``, the enrolment into ``/etc/healthhub``: the key 0600 healthhub, the rest
   0640 root:healthhub, ``device.yaml`` pointing at ``/var/lib/healthhub``.

Without ``--bundle`` the unit has no identity yet (an image for many units); first boot
installs one (:mod:`~.firstboot`). On the running system (root ``/``) systemd and udev are
told to reload what changed.
"""

from __future__ import annotations

import configparser
import subprocess
from importlib import resources
from pathlib import Path
from typing import Final

from healthhub.provisioning import venv_release
from healthhub.provisioning.bundle import SERIAL_PORTS_FILE, Bundle
from healthhub.provisioning.enrolment import CONFIG_FILE, KEY_FILE, render_device_yaml
from healthhub.provisioning.errors import ProvisioningError
from healthhub.provisioning.serial_names import parse as parse_serial_ports
from healthhub.provisioning.serial_names import render_rules
from healthhub.provisioning.target_root import TargetRoot

CONFIG_DIR: Final = "/etc/healthhub"
STATE_DIR: Final = "/var/lib/healthhub"
UNITS: Final = (
    "healthhub-agent.service",
    "healthhub-kiosk.service",
    "healthhub-firstboot.service",
    # software updates: the path unit (enabled) starts the updater when the agent asks
    "healthhub-update.service",
    "healthhub-update.path",
)
#: Packaged file -> where it is installed (mode 0644 root).
SYSTEM_FILES: Final = {
    "healthhub.sysusers.conf": "/etc/sysusers.d/healthhub.conf",
    "healthhub.tmpfiles.conf": "/etc/tmpfiles.d/healthhub.conf",
    "90-healthhub-serial.udev.rules": "/etc/udev/rules.d/90-healthhub-serial.rules",
    "50-healthhub.polkit.rules": "/etc/polkit-1/rules.d/50-healthhub.rules",
    **{unit: f"/etc/systemd/system/{unit}" for unit in UNITS},
}
NAMES_RULES: Final = "/etc/udev/rules.d/91-healthhub-names.rules"


class InstallError(ProvisioningError):
    """A step of the install failed; what was done before it stays (each step is whole)."""


def system_file(name: str) -> bytes:
    return resources.files("healthhub.systemd").joinpath(name).read_bytes()


def install(
    target: TargetRoot,
    *,
    bundle: Bundle | None = None,
    wheels: Path | None = None,
    serial_ports: bytes | None = None,
    python: str = "/usr/bin/python3",
) -> list[str]:
    """Install; returns the notes for the person running it (the changes are on ``target``)."""
    notes: list[str] = []
    for name, where in SYSTEM_FILES.items():
        target.file(where, system_file(name), mode=0o644)
    _users(target)
    _folders(target, system_file("healthhub.tmpfiles.conf").decode())
    if serial_ports is not None:  # given here, it wins over a bundle's
        install_serial_names(target, serial_ports)
    if wheels is not None:
        version = venv_release.build(target, wheels, python=python)
        if venv_release.current(target) is None:
            venv_release.switch(target, version)
        elif venv_release.current(target) != version:
            notes.append(
                f"release {version} is built beside {venv_release.current(target)}, which stays "
                "in use: a new version is switched to by an update, which checks it"
            )
    elif venv_release.current(target) is None:
        notes.append("no package installed yet: give --wheels DIR (`pip wheel -w DIR .`)")
    for unit in UNITS:
        _enable(target, unit)
    if bundle is not None:
        install_identity(target, bundle, serial_names=serial_ports is None)
    else:
        notes.append("no enrolment: first boot installs healthhub-enrol.tar from /boot/firmware")
    if target.root == Path("/") and target.changes:
        notes.extend(_reload_running_system())
    return notes


def install_identity(target: TargetRoot, bundle: Bundle, *, serial_names: bool = True) -> None:
    """The bundle's files into ``/etc/healthhub``, the key readable by the agent alone, and
    (with ``serial_names``) the udev names of its ``serial-ports.yaml``."""
    target.directory(CONFIG_DIR, mode=0o750, group="healthhub")
    for name, given in sorted(bundle.files.items()):
        if name == SERIAL_PORTS_FILE:
            if serial_names:
                install_serial_names(target, given)
            continue
        data = given
        if name == CONFIG_FILE:  # the unit's state folder, where the UI finds the agent
            data = render_device_yaml(bundle.config | {"state_dir": STATE_DIR}).encode("utf-8")
        where = f"{CONFIG_DIR}/{name}"
        if name == KEY_FILE:
            target.file(where, data, mode=0o600, owner="healthhub", group="healthhub")
        else:
            target.file(where, data, mode=0o640, group="healthhub")


def install_serial_names(target: TargetRoot, serial_ports: bytes) -> None:
    """``serial-ports.yaml`` kept in ``/etc/healthhub`` and made into udev's stable names."""
    rules = render_rules(parse_serial_ports(serial_ports))
    target.file(f"{CONFIG_DIR}/{SERIAL_PORTS_FILE}", serial_ports, mode=0o640, group="healthhub")
    target.file(NAMES_RULES, rules.encode(), mode=0o644)


def _users(target: TargetRoot) -> None:
    if _users_present(target, system_file("healthhub.sysusers.conf").decode()):
        return  # systemd-sysusers would take its lock in /etc and change nothing else
    target.parents("/etc/passwd")
    tables = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
    before = [_bytes(target.path(t)) for t in tables]
    argv = ["systemd-sysusers"]
    if target.root != Path("/"):
        argv.append(f"--root={target.root}")
    argv.append(str(target.path("/etc/sysusers.d/healthhub.conf")))
    _run(argv, "create the users (systemd-sysusers; `apt-get install systemd`)")
    if [_bytes(target.path(t)) for t in tables] != before:
        target.changes.append("users healthhub and healthhub-ui created or updated")


def _users_present(target: TargetRoot, sysusers: str) -> bool:
    """Every ``u`` user and ``m`` membership of our sysusers.d file is in the target."""
    try:
        passwd = target.path("/etc/passwd").read_text(encoding="utf-8").splitlines()
        group = target.path("/etc/group").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return False
    users = {line.split(":")[0] for line in passwd}
    members = {
        fields[0]: set(fields[3].split(","))
        for fields in (line.split(":") for line in group)
        if len(fields) >= 4
    }
    for line in sysusers.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "u" and fields[1] not in users:
            return False
        if fields[0] == "m" and fields[1] not in members.get(fields[2], set()):
            return False
    return True


def _folders(target: TargetRoot, tmpfiles: str) -> None:
    """The ``d`` lines of our tmpfiles.d file (the same file systemd applies at boot)."""
    for line in tmpfiles.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] != "d" or len(fields) < 5:
            raise InstallError(f"unexpected tmpfiles line: {line}")
        target.directory(fields[1], mode=int(fields[2], 8), owner=fields[3], group=fields[4])


def _enable(target: TargetRoot, unit: str) -> None:
    """What ``systemctl enable`` does: a link in each ``WantedBy=`` target's ``.wants``."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(system_file(unit).decode())
    for wanted_by in parser.get("Install", "WantedBy", fallback="").split():
        link = f"/etc/systemd/system/{wanted_by}.wants/{unit}"
        target.symlink(link, f"/etc/systemd/system/{unit}")


def _reload_running_system() -> list[str]:
    notes = []
    for argv in (
        ["systemctl", "daemon-reload"],
        ["udevadm", "control", "--reload"],
        ["udevadm", "trigger", "--subsystem-match=tty"],
    ):
        try:
            _run(argv, " ".join(argv))
        except InstallError as exc:  # systemd not running (a chroot, a container)
            notes.append(f"not done: {exc}")
    return notes


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"could not {what}: {exc}") from None
    if result.returncode != 0:
        raise InstallError(f"could not {what}: {result.stderr.strip()}")
