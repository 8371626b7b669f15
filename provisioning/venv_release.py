"""The package in its own virtualenv, one per version, beside the others.

``/opt/healthhub/releases/{version}/venv`` holds one version of Health Hub and everything it
depends on, installed offline from a wheel set (``pip wheel -w WHEELS .`` on a machine of
the unit's architecture; ``--no-index``: a unit never fetches code from the internet).
``/opt/healthhub/venv`` is a link to the version in use, which is what the systemd units
start, so switching version (an update, a rollback) is one atomic rename of that link.

A venv is built under a hidden ``.partial`` name and renamed into place only when whole,
with a ``.complete`` marker: an interrupted build is rebuilt, a whole one is never rebuilt
(so ``install`` run twice changes nothing). The scripts pip writes name the interpreter by
its absolute path as built (in a staging root, the staging path); they are rewritten to the
path the unit will see: the release's own interpreter, not the ``venv`` link, so an agent
started from one release keeps importing from it even after the link moves to another.
The interpreter itself is the target's ``/usr/bin/python3``, so a staging root must be
built on a machine with the same Python and architecture (an image builder's chroot is;
see ``healthhub-provision image-notes``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.provisioning.errors import ProvisioningError
from healthhub.provisioning.target_root import TargetRoot

RELEASES: Final = "/opt/healthhub/releases"
CURRENT: Final = "/opt/healthhub/venv"
MARKER: Final = ".complete"
_WHEEL: Final = re.compile(r"healthhub-([0-9][0-9A-Za-z.+!]*)-py3-none-any\.whl")
#: Building a venv from a wheel set takes about half a minute; a hung pip is stopped.
BUILD_TIMEOUT_S: Final = 1800


class ReleaseError(ProvisioningError):
    """The wheel set is not one release, or the venv could not be built from it."""


def release_version(wheels: Path) -> str:
    """The Health Hub version a wheel set holds (exactly one ``healthhub-*.whl``)."""
    versions = sorted(
        match.group(1) for path in Path(wheels).iterdir() if (match := _WHEEL.fullmatch(path.name))
    )
    if len(versions) != 1:
        raise ReleaseError(
            f"{wheels} must hold exactly one healthhub wheel, not {len(versions)}: "
            "build one with `pip wheel -w DIR .` in the source tree"
        )
    return versions[0]


def venv_path(version: str) -> str:
    return f"{RELEASES}/{version}/venv"


def is_built(target: TargetRoot, version: str) -> bool:
    return target.path(f"{RELEASES}/{version}/{MARKER}").is_file()


def build(target: TargetRoot, wheels: Path, *, python: str = "/usr/bin/python3") -> str:
    """Build the release in ``wheels`` beside the others (if not built yet); its version."""
    version = release_version(wheels)
    if is_built(target, version):
        return version
    target.parents(f"{RELEASES}/{version}")
    partial_abs = f"{RELEASES}/.{version}.partial"
    partial = target.path(partial_abs)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    built = partial / "venv"
    _run([python, "-m", "venv", str(built)], "create the venv")
    _run(
        [
            str(built / "bin/python"), "-m", "pip", "install", "--quiet", "--no-index",
            "--no-cache-dir", "--disable-pip-version-check", "--no-warn-script-location",
            "--find-links", str(Path(wheels).resolve()), f"healthhub=={version}",
        ],
        "install the wheels",
    )  # fmt: skip
    _relocate(built, f"{RELEASES}/{version}/venv")
    write_atomic(partial / MARKER, f"{version}\n".encode(), mode=0o644)
    final = target.path(f"{RELEASES}/{version}")
    os.rename(partial, final)
    fsync_directory(final.parent)
    target.changes.append(f"built {venv_path(version)}")
    return version


def switch(target: TargetRoot, version: str) -> None:
    """Point ``/opt/healthhub/venv`` at a built release (one atomic rename)."""
    if not is_built(target, version):
        raise ReleaseError(f"release {version} is not built on this unit")
    target.symlink(CURRENT, f"releases/{version}/venv")


def current(target: TargetRoot) -> str | None:
    """The version ``/opt/healthhub/venv`` points at, or None."""
    link = target.path(CURRENT)
    if not link.is_symlink():
        return None
    parts = Path(os.readlink(link)).parts
    return parts[1] if len(parts) == 3 and parts[0] == "releases" else None


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReleaseError(f"could not {what}: {exc}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ReleaseError(f"could not {what}: " + " | ".join(tail))


def _relocate(venv: Path, final: str) -> None:
    """Rewrite the built venv's own path, where scripts name it, to its final path."""
    built = str(venv)
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if built.encode() not in data[:4096]:
            continue
        mode = script.stat().st_mode & 0o7777
        write_atomic(script, data.replace(built.encode(), final.encode()), mode=mode)
    config = venv / "pyvenv.cfg"
    write_atomic(config, config.read_bytes().replace(built.encode(), final.encode()), mode=0o644)
