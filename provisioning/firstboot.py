"""First boot: the enrolment bundle on the boot partition becomes the unit's identity.

A technician writes the image (the same for every unit) to a card, copies the unit's
``healthhub-enrol.tar`` (``healthhub-provision pack``) onto the card's boot partition, the
FAT partition every computer can write, and puts the card in the Pi. At boot
``healthhub-firstboot.service`` runs :func:`pick_up`: the bundle is checked whole
(:mod:`~.bundle`), installed into ``/etc/healthhub`` and then removed from the boot
partition, because it holds the device's private key and the boot partition is readable by
anyone who takes the card out. A bundle that fails its check is removed too (a key must not
stay there either); the technician reads why in ``healthhub-enrol-result.txt`` beside it,
which holds the device id and the outcome, never a secret. The agent then starts (its unit
waits for ``device.yaml``) and the unit appears online in ``healthhub-fleet status``.

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

from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.provisioning.bundle import BundleInvalid, read_bundle
from healthhub.provisioning.install import install_identity
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
    """Install the boot partition's bundle, if there is one; None if there is none."""
    tar = Path(boot) / BUNDLE_NAME
    if not tar.is_file():
        return None
    try:
        bundle = read_bundle(tar)
    except BundleInvalid as exc:
        outcome = FirstBoot(False, None, f"bundle refused, nothing installed: {exc}")
    else:
        install_identity(target, bundle)
        outcome = FirstBoot(
            True,
            bundle.device,
            f"device {bundle.device} of site {bundle.site} installed; its certificate is valid "
            f"until {bundle.not_after:%Y-%m-%d}",
        )
    _remove(tar)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_atomic(Path(boot) / RESULT_NAME, f"{stamp} {outcome.message}\n".encode(), mode=0o644)
    return outcome


def _remove(tar: Path) -> None:
    """Overwrite the bundle's bytes, then remove it (see the module note on FAT)."""
    size = tar.stat().st_size
    with open(tar, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    tar.unlink()
    fsync_directory(tar.parent)
