"""First boot: the enrolment bundle on the boot partition becomes the unit's identity.

A technician writes the image (the same for every unit) to a card, copies the unit's
``healthhub-enrol.tar`` (``healthhub-provision pack``) onto the card's boot partition, the
FAT partition every computer can write, and puts the card in the Pi. At boot
``healthhub-firstboot.service`` runs :func:`pick_up`: the bundle is checked whole
(:mod:`~.bundle`), installed into ``/etc/healthhub`` and then removed from the boot
partition, because it holds the device's private key and the boot partition is readable by
anyone who takes the card out. Its certificate's dates are not checked here (the clock is
the image's until NTP answers; the broker checks them), and a unit already enrolled as
another device, or with another fleet's CA, is not re-enrolled by a stray bundle. A bundle
that fails its check is removed too (a key must not stay there either); the technician reads
why in ``healthhub-enrol-result.txt`` beside it, which holds the device id and the outcome,
never a secret. The agent then starts (its unit waits for ``device.yaml``) and the unit
appears online in ``healthhub-fleet status``.

FAT is not a journalling file system and deleting a file does not erase its blocks: the
bundle's key is as exposed as the card is between writing it and first boot. Keep cards with
bundles as you would keep the key; revoke the unit (``healthhub-provision revoke``) if one
goes missing.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.provisioning.bundle import BundleInvalid, read_bundle
from healthhub.provisioning.enrolment import CA_FILE, CONFIG_FILE
from healthhub.provisioning.errors import ProvisioningError
from healthhub.provisioning.install import CONFIG_DIR, install_identity
from healthhub.provisioning.target_root import TargetRoot

BUNDLE_NAME: Final = "healthhub-enrol.tar"
RESULT_NAME: Final = "healthhub-enrol-result.txt"
DEFAULT_BOOT: Final = Path("/boot/firmware")


@dataclass(frozen=True)
class FirstBoot:
    installed: bool
    device: str | None
    message: str


def pick_up(target: TargetRoot, boot: Path = DEFAULT_BOOT) -> FirstBoot | None:
    """Install the boot partition's bundle, if there is one; None if there is none.

    Whatever happens, the bundle leaves the boot partition and the result file says why."""
    tar = Path(boot) / BUNDLE_NAME
    if not tar.is_file():
        return None
    try:
        outcome = _install(target, tar)
    except (ProvisioningError, OSError) as exc:  # a full disk, a broken target: say so
        outcome = FirstBoot(False, None, f"bundle not installed: {exc}")
    finally:
        _remove(tar)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_atomic(Path(boot) / RESULT_NAME, f"{stamp} {outcome.message}\n".encode(), mode=0o644)
    return outcome


def _install(target: TargetRoot, tar: Path) -> FirstBoot:
    try:
        bundle = read_bundle(tar, dates=False)  # the clock is not set yet: see read_bundle
    except BundleInvalid as exc:
        return FirstBoot(False, None, f"bundle refused, nothing installed: {exc}")
    installed = _enrolled_as(target)
    if installed is not None and installed != (bundle.device, bundle.files[CA_FILE]):
        return FirstBoot(
            False,
            None,
            f"bundle refused, nothing installed: this unit is already enrolled as "
            f"{installed[0]}; to enrol it afresh (its outbox would be another unit's), "
            "clear /etc/healthhub and /var/lib/healthhub first",
        )
    install_identity(target, bundle)
    return FirstBoot(
        True,
        bundle.device,
        f"device {bundle.device} of site {bundle.site} installed; its certificate is valid "
        f"until {bundle.not_after:%Y-%m-%d}",
    )


def _enrolled_as(target: TargetRoot) -> tuple[str, bytes] | None:
    """The device id and fleet CA this unit is enrolled with already, if it is."""
    config = target.path(f"{CONFIG_DIR}/{CONFIG_FILE}")
    if not config.is_file():
        return None
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        device = str(loaded["device"]["id"])
        ca = target.path(f"{CONFIG_DIR}/{CA_FILE}").read_bytes()
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise BundleInvalid(f"the enrolment already here cannot be read ({exc})") from None
    return device, ca


def _remove(tar: Path) -> None:
    """Overwrite the bundle's bytes, then remove it (see the module note on FAT)."""
    size = tar.stat().st_size
    zeros = b"\0" * 65536
    with open(tar, "r+b") as handle:
        for _ in range(0, size, len(zeros)):
            handle.write(zeros)
        handle.flush()
        os.fsync(handle.fileno())
    tar.unlink()
    fsync_directory(tar.parent)
