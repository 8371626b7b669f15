"""The file system an install writes: ``/`` on a unit, or a staging root for an image.

Every write is idempotent: a file whose bytes, mode and owner are already right is left
alone (not even its modification time changes), and each change is recorded, so a second
``install`` reports nothing changed. Owners are looked up in the *target's* ``/etc/passwd``
and ``/etc/group`` (a staging root has its own users, with its own ids). A file is written
whole to a temporary name, given its owner and mode, fsynced and renamed, so a secret is
never readable by anyone else, not even for a moment, and a power cut leaves the old or the
new file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from healthhub.protocol.files import fsync_directory
from healthhub.provisioning.errors import ProvisioningError


class TargetError(ProvisioningError):
    """The target root lacks a user or group the install needs, or a path is not ours."""


def _ids(table: Path, name: str, what: str) -> int:
    try:
        lines = table.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TargetError(f"{table} is missing: the {what} {name!r} cannot be found") from None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    raise TargetError(f"no {what} {name!r} in {table}")


@dataclass
class TargetRoot:
    """Writes under ``root``; ``changes`` lists what was created or altered, in order."""

    root: Path
    changes: list[str] = field(default_factory=list)

    def path(self, absolute: str) -> Path:
        """``/etc/healthhub`` inside the target."""
        inside = PurePosixPath(absolute)
        if not inside.is_absolute() or ".." in inside.parts:
            raise TargetError(f"not an absolute path inside the target: {absolute}")
        return self.root.joinpath(*inside.parts[1:])

    def uid(self, user: str) -> int:
        if user == "root":  # 0 by definition, even in a staging root without /etc/passwd
            return 0
        return _ids(self.path("/etc/passwd"), user, "user")

    def gid(self, group: str) -> int:
        if group == "root":
            return 0
        return _ids(self.path("/etc/group"), group, "group")

    def _owner(self, owner: str, group: str) -> tuple[int, int]:
        return self.uid(owner), self.gid(group)

    def directory(
        self, absolute: str, *, mode: int, owner: str = "root", group: str = "root"
    ) -> None:
        """Make a directory (and missing parents, root-owned 0755) with this owner and mode."""
        target = self.path(absolute)
        uid, gid = self._owner(owner, group)
        if not target.is_dir():
            self.parents(absolute)
            target.mkdir(mode=mode)
            fsync_directory(target.parent)
            self.changes.append(f"created {absolute}/")
        self._fix(target, absolute, mode=mode, uid=uid, gid=gid)

    def file(
        self, absolute: str, data: bytes, *, mode: int, owner: str = "root", group: str = "root"
    ) -> None:
        """Write a file whole, with its owner and mode set before it takes the name."""
        target = self.path(absolute)
        uid, gid = self._owner(owner, group)
        self.parents(absolute)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise TargetError(f"{absolute} exists and is not a plain file: refusing to replace it")
        if target.is_file() and target.read_bytes() == data:
            self._fix(target, absolute, mode=mode, uid=uid, gid=gid)
            return
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            os.fchmod(fd, mode)
            os.fchown(fd, uid, gid)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            existed = target.exists()
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        fsync_directory(target.parent)
        self.changes.append(f"{'updated' if existed else 'created'} {absolute}")

    def symlink(self, absolute: str, points_to: str) -> None:
        """A symbolic link (replaced atomically if it points elsewhere)."""
        target = self.path(absolute)
        if target.is_symlink() and os.readlink(target) == points_to:
            return
        self.parents(absolute)
        if target.exists() and not target.is_symlink():
            raise TargetError(f"{absolute} exists and is not a link: refusing to replace it")
        temporary = target.with_name(f".{target.name}.link")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(points_to)
        os.replace(temporary, target)
        fsync_directory(target.parent)
        self.changes.append(f"linked {absolute} -> {points_to}")

    def parents(self, absolute: str) -> None:
        """Create the missing folders above ``absolute`` (root, 0755); existing ones are the
        system's and are left exactly as they are."""
        missing = []
        for parent in PurePosixPath(absolute).parents:
            if self.path(str(parent)).is_dir():
                break
            missing.append(str(parent))
        for folder in reversed(missing):
            self.path(folder).mkdir()
            os.chmod(self.path(folder), 0o755)  # noqa: S103 -- system folders, whatever the umask
            os.chown(self.path(folder), 0, 0)
            self.changes.append(f"created {folder}/")

    def remove(self, absolute: str) -> None:
        target = self.path(absolute)
        if target.is_symlink() or target.exists():
            target.unlink()
            fsync_directory(target.parent)
            self.changes.append(f"removed {absolute}")

    def _fix(self, target: Path, absolute: str, *, mode: int, uid: int, gid: int) -> None:
        now = target.lstat()
        if (now.st_uid, now.st_gid) != (uid, gid):
            os.chown(target, uid, gid)
            self.changes.append(f"owner of {absolute} set")
        if now.st_mode & 0o7777 != mode:
            os.chmod(target, mode)
            self.changes.append(f"mode of {absolute} set to {mode:04o}")
