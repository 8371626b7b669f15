"""File moves shared by the stores that take signed manifests and their blobs (content and
software releases): a read-only file written whole from pieces, and a forgiving delete."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

#: Stored chunks, blobs and served files are read-only: nothing may change what was signed.
FILE_MODE: Final = 0o444


def write_new(directory: Path, name: str, pieces: Iterable[bytes]) -> None:
    """``directory/name`` made from ``pieces``: written to a temporary file, fsynced, renamed.

    The directory is not fsynced for each file (a chunk would cost two fsyncs): a rename a
    power cut takes back loses a chunk or blob that is fetched again, and the directories
    that decide what is used (a set's, the root's) are fsynced by the store before a switch.
    An exception from ``pieces`` (a joined file that does not match) leaves nothing behind.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def remove(path: Path) -> None:
    """Delete a file, link or folder; a failure is logged (clean-up is retried later)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot delete %s: %s", path.name[:40], exc.strerror or exc)
