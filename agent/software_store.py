"""Software updates on a unit, the agent's part: signed manifests in, a verified wheel set and
a request for the updater out.

The agent runs as ``healthhub`` and can write only its state folder, so it never installs
anything itself. It decides whether to follow a manifest, fetches the wheels it lacks as
content blobs (the transport is :class:`~healthhub.agent.software_sync.SoftwareSync`), checks
every chunk and every wheel against the manifest, and lays out in ``software/``::

    chunks/{sha256}         chunks of a wheel still being fetched
    wheels/{sha256}         whole wheels, checked (kept for the next release: most are shared)
    ready/{version}/        the wheel set under its file names (hard links) + manifest.json,
                            renamed into place only when whole
    request.json            {"version", "manifest"}: starts healthhub-update.service
    result.json             written by the updater (root): installing, checking, an outcome
    health.json             written by the agent while it is the release on trial
    failed.json             manifests the updater refused or rolled back: not tried again

**Which manifest.** The most specific level with a manifest: device, else site, else fleet.
One that fails its checks (signature, scope, names, sizes, version) is reported ``rejected``
and nothing else happens: the unit goes on running what it runs. A version older than the
running one is refused unless the manifest allows a downgrade; the running version itself is
``healthy``; a manifest the updater refused or rolled back (``failed.json``, by the sha256 of
its signed payload) is reported as such and never requested again; the fleet pushes it again
(a new manifest) to retry.

**Reports** (``software/reported``): ``version_running``, ``desired``, ``manifest`` (its
sha256), ``level``, ``state`` (downloading, ready, installing, healthy, rolled-back,
rejected) and ``detail``. The updater's ``result.json`` moves the state on; after the
updater restarts the agent, the new process reads it at start.

Every file is written whole and renamed; a power cut leaves chunks and wheels that are
checked again (a wheel's size at start, its sha256 when it is linked into ``ready/``) and a
``ready/`` folder that is either whole or a hidden temporary one, removed at start.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from healthhub.agent.blob_files import remove, write_new
from healthhub.protocol import canonical
from healthhub.protocol import software as sw
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import LEVELS, scopes_of
from healthhub.protocol.content import CHUNK_BYTES
from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.protocol.software import SoftwareManifest, SoftwareRejected, WheelFile

log = logging.getLogger(__name__)

CHUNKS: Final = "chunks"
WHEELS: Final = "wheels"
FAILED_FILE: Final = "failed.json"
#: Manifests remembered as failed (the oldest forgotten first).
MAX_FAILED: Final = 32
#: Free space left on the state folder's file system after a download (the outbox needs it).
RESERVE_BYTES: Final = 256 * 1024 * 1024

_HASH_NAME = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class _Target:
    """The manifest being fetched or installed."""

    level: str
    manifest: SoftwareManifest
    payload: bytes
    digest: str


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _disk_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    return f"cannot write the update: {exc.strerror or exc}"


class _Refused(Exception):
    """A blob or wheel that does not match the manifest: the manifest is refused for good."""


class SoftwareStore:
    """The unit's side of software updates under ``root`` (``STATE_DIR/software``).

    Calls do file I/O (hashing and fsyncing wheels of up to 128 MiB): the agent makes them
    one at a time, off its event loop."""

    def __init__(
        self,
        root: Path,
        verify_key: bytes,
        *,
        device: str,
        site: str,
        running: str,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self.root = root
        self.running = running
        self.reserve_bytes = reserve_bytes
        self.scopes = scopes_of(device, site)
        self._topics = {sw.software_topic(scope): level for level, scope in self.scopes.items()}
        self._verify_key = verify_key
        self._chunk_dir = root / CHUNKS
        self._wheel_dir = root / WHEELS
        self._ready_dir = root / sw.READY_DIR
        self._payloads: dict[str, bytes] = {}  # level -> the manifest retained there now
        self._refused: dict[str, str] = {}  # digest -> why (bad blobs: same bytes again)
        self._failed: dict[str, dict[str, Any]] = {}  # digest -> the updater's outcome
        self._target: _Target | None = None
        self._missing: dict[str, WheelFile] = {}  # wheel sha256 -> wheel not yet whole
        self._chunks: set[str] = set()
        self._wheels: dict[str, int] = {}  # sha256 -> size of what is in wheels/
        self._result: dict[str, Any] | None = None  # result.json as last read
        self._report: dict[str, Any] = {"state": sw.HEALTHY, "detail": "no update pushed"}
        try:
            self._recover()
        except OSError as exc:
            log.error("software folder unusable (%s): updates cannot be fetched", exc)

    # -- start ---------------------------------------------------------------------------

    def _recover(self) -> None:
        for directory in (self.root, self._chunk_dir, self._wheel_dir, self._ready_dir):
            directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        for directory in (self.root, self._ready_dir):
            for entry in os.scandir(directory):
                if entry.name.startswith("."):  # an interrupted write
                    remove(Path(entry.path))
        for directory, index in ((self._chunk_dir, None), (self._wheel_dir, self._wheels)):
            for entry in os.scandir(directory):
                if not _HASH_NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                    remove(Path(entry.path))
                elif index is None:
                    self._chunks.add(entry.name)
                else:
                    index[entry.name] = entry.stat(follow_symlinks=False).st_size
        failed = sw.read_small_json(self.root / FAILED_FILE) or {}
        self._failed = {
            digest: entry
            for digest, entry in failed.items()
            if _HASH_NAME.fullmatch(digest) and isinstance(entry, dict)
        }
        self._read_result()

    # -- manifests -----------------------------------------------------------------------

    def level_of(self, topic: str) -> str | None:
        """Which level's manifest arrives on ``topic`` (None: not a software topic of ours)."""
        return self._topics.get(topic)

    def offer(self, level: str, payload: bytes) -> bool:
        """A manifest received on ``level``'s topic (empty: withdrawn); True: report."""
        if not payload:
            self._payloads.pop(level, None)
        elif self._payloads.get(level) == payload:
            return False  # sent again by the broker on a reconnect
        else:
            self._payloads[level] = payload
        return self._decide()

    def _decide(self) -> bool:
        """Follow the most specific level's manifest."""
        level = next((lv for lv in reversed(LEVELS) if lv in self._payloads), None)
        if level is None:
            self._drop_target()
            return self._set(sw.HEALTHY, "no update pushed", None)
        payload = self._payloads[level]
        digest = sw.digest(payload)
        if self._target is not None and self._target.digest == digest:
            return False
        try:
            manifest = sw.decode(payload, self._verify_key, expected=self.scopes[level])
        except SoftwareRejected as exc:
            self._drop_target()
            log.warning("software manifest (%s) rejected: %s", level, exc)
            return self._set(sw.REJECTED, str(exc), None, digest=digest, level=level)
        target = _Target(level, manifest, payload, digest)
        self._drop_target()
        return self._start(target)

    def _start(self, target: _Target) -> bool:
        about = {"desired": target.manifest.version, "digest": target.digest, "level": target.level}
        decided = self._decided(target)
        if decided is not None:
            return self._set(*decided, **about)
        self._target = target
        self._plan()
        needed = sum(file.size for file in self._missing.values())
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            free = 0
        if needed and needed + self.reserve_bytes > free:
            self._target = None
            reason = f"needs {needed} bytes more and {self.reserve_bytes} spare; {free} free"
            return self._set(sw.REJECTED, reason, **about)
        log.info("software %s: %d of %d wheels to fetch", target.manifest.version,
                 len(self._missing), len(target.manifest.files))  # fmt: skip
        return self._advance()

    def _decided(self, target: _Target) -> tuple[str, str] | None:
        """(state, detail) if ``target`` is not to be fetched: failed or refused before, the
        running version, or an older one without ``allow_downgrade``."""
        version = target.manifest.version
        failed = self._failed.get(target.digest)
        if failed is not None:
            return str(failed.get("state", sw.ROLLED_BACK)), str(failed.get("detail", ""))
        if target.digest in self._refused:
            return sw.REJECTED, self._refused[target.digest]
        order = sw.compare_versions(version, self.running)
        if order == 0:
            self._collect(keep=target.manifest.files)
            if self._on_trial():  # healthy is the updater's verdict, not ours
                return sw.INSTALLING, "switched; health check"
            return sw.HEALTHY, f"running {version}"
        if order < 0 and not target.manifest.allow_downgrade:
            reason = (
                f"version {version} is older than the running {self.running}: refused "
                "(push it with --allow-downgrade to go back on purpose)"
            )
            log.warning("software manifest refused: %s", reason)
            return sw.REJECTED, reason
        return None

    def _drop_target(self) -> None:
        self._target, self._missing = None, {}

    def _plan(self) -> None:
        assert self._target is not None
        self._missing = {
            file.sha256: file for file in self._target.manifest.files if not self._have(file)
        }

    def _have(self, file: WheelFile) -> bool:
        return self._wheels.get(file.sha256) == file.size

    # -- blobs ---------------------------------------------------------------------------

    def wanted(self) -> list[str]:
        """Chunks the target still needs, in wheel order, each once."""
        seen: set[str] = set()
        wanted: list[str] = []
        for file in sorted(self._missing.values(), key=lambda file: file.name):
            for sha in file.chunks:
                if sha not in seen and sha not in self._chunks and sha not in self._wheels:
                    seen.add(sha)
                    wanted.append(sha)
        return wanted

    def receive(self, chunk_sha: str, payload: bytes) -> bool:
        """A blob from ``content/blobs/{chunk_sha}``; True: report."""
        users = [file for file in self._missing.values() if chunk_sha in file.chunks]
        if not users or chunk_sha in self._chunks:
            return False
        try:
            if _sha256(payload) != chunk_sha:
                raise _Refused(f"a blob of {users[0].name} does not match its sha256")
            if len(payload) > CHUNK_BYTES:
                raise _Refused(f"a blob of {users[0].name} is over {CHUNK_BYTES} bytes")
            write_new(self._chunk_dir, chunk_sha, [payload])
            self._chunks.add(chunk_sha)
        except _Refused as exc:
            return self._refuse(str(exc))
        except OSError as exc:
            return self._abandon(_disk_reason(exc))
        return self._advance()

    def give_up(self, reason: str) -> bool:
        """The blobs never came: reported rejected; the next offer of a manifest tries again."""
        if self._target is None:
            return False
        return self._abandon(reason)

    def _advance(self) -> bool:
        """Join every wheel whose chunks are here; lay out the set once all are."""
        target = self._target
        assert target is not None
        try:
            for file in list(self._missing.values()):
                if all(sha in self._chunks or sha in self._wheels for sha in file.chunks):
                    self._join(file)
            if self._missing:
                done = len(target.manifest.files) - len(self._missing)
                left = sum(file.size for file in self._missing.values())
                detail = f"{done} of {len(target.manifest.files)} wheels; {left} bytes to fetch"
                return self._set(sw.DOWNLOADING, detail, **self._about())
            self._lay_out(target)
        except _Refused as exc:
            return self._refuse(str(exc))
        except OSError as exc:
            return self._abandon(_disk_reason(exc))
        return self._set(sw.READY, "verified; waiting for the updater", **self._about())

    def _join(self, file: WheelFile) -> None:
        """``wheels/{sha256}`` from its chunks, checked against the manifest."""
        whole = hashlib.sha256()
        size = 0

        def pieces() -> Iterable[bytes]:
            nonlocal size
            for sha in file.chunks:
                directory = self._chunk_dir if sha in self._chunks else self._wheel_dir
                data = (directory / sha).read_bytes()
                whole.update(data)
                size += len(data)
                yield data
            if size != file.size or whole.hexdigest() != file.sha256:
                raise _Refused(f"{file.name} does not match its sha256 and size")

        write_new(self._wheel_dir, file.sha256, pieces())
        self._wheels[file.sha256] = file.size
        del self._missing[file.sha256]
        needed = {sha for other in self._missing.values() for sha in other.chunks}
        for sha in file.chunks:
            if sha in self._chunks and sha not in needed:
                self._chunks.discard(sha)
                remove(self._chunk_dir / sha)

    def _lay_out(self, target: _Target) -> None:
        """``ready/{version}``: every wheel under its name, re-hashed, and the manifest; then
        ``request.json``, which starts the updater."""
        version = target.manifest.version
        final = self._ready_dir / version
        kept = sw.read_small_json(self.root / sw.REQUEST_FILE) or {}
        if not (kept.get("manifest") == target.digest and final.is_dir()):
            remove(final)
            building = self._ready_dir / f".{version}.tmp"
            remove(building)
            fsync_directory(self._wheel_dir)
            building.mkdir(mode=0o750)
            try:
                for file in target.manifest.files:
                    source = self._wheel_dir / file.sha256
                    if _file_sha256(source) != file.sha256:  # damaged on the card since
                        self._wheels.pop(file.sha256, None)
                        remove(source)
                        raise _Refused(f"{file.name} was damaged on the card; fetch it again")
                    os.link(source, building / file.name)
                write_atomic(building / sw.MANIFEST_FILE, target.payload, mode=0o640)
                fsync_directory(building)
            except BaseException:
                remove(building)
                raise
            os.rename(building, final)
            fsync_directory(self._ready_dir)
        self._request(target)

    def _request(self, target: _Target) -> None:
        request = {
            "version": target.manifest.version,
            "manifest": target.digest,
            "requested_at": now_utc(),
        }
        write_atomic(self.root / sw.REQUEST_FILE, canonical.dumps(request), mode=0o640)
        log.info("software %s ready: the updater is asked to install it", request["version"])

    def _refuse(self, reason: str) -> bool:
        target = self._target
        assert target is not None
        log.warning("software %s refused: %s", target.manifest.version, reason)
        self._refused[target.digest] = reason
        about = self._about()
        self._drop_target()
        self._collect(keep=())
        return self._set(sw.REJECTED, reason, **about)

    def _abandon(self, reason: str) -> bool:
        about = self._about()
        self._drop_target()
        return self._set(sw.REJECTED, reason, **about)

    def _collect(self, keep: Iterable[WheelFile]) -> None:
        """Delete chunks and wheels that neither the target nor ``keep`` needs."""
        needed = {file.sha256 for file in keep}
        if self._target is not None:
            needed |= {file.sha256 for file in self._target.manifest.files}
        chunks = {sha for file in self._missing.values() for sha in file.chunks}
        for sha in [sha for sha in self._wheels if sha not in needed]:
            self._wheels.pop(sha)
            remove(self._wheel_dir / sha)
        for sha in [sha for sha in self._chunks if sha not in chunks]:
            self._chunks.discard(sha)
            remove(self._chunk_dir / sha)

    # -- the updater's side ----------------------------------------------------------------

    def poll(self, health: dict[str, Any]) -> bool:
        """Read the updater's ``result.json``; write ``health.json`` while this release is on
        trial (``health``: the agent's link and outbox, see :mod:`~.software_sync`); ask
        again if a request went missing. True: the report changed."""
        changed = self._read_result()
        if self._on_trial():
            record = {"version": self.running, "pid": os.getpid(), "at": now_utc(), **health}
            try:
                write_atomic(self.root / sw.HEALTH_FILE, canonical.dumps(record), mode=0o640)
            except OSError as exc:
                log.warning("cannot write %s: %s", sw.HEALTH_FILE, exc.strerror or exc)
        target = self._target
        if (
            target is not None
            and not self._missing
            and self._report.get("state") == sw.READY
            and not (self.root / sw.REQUEST_FILE).exists()
        ):
            try:
                self._request(target)  # the updater took another request in between
            except OSError as exc:
                changed |= self._abandon(_disk_reason(exc))
        return changed

    def _on_trial(self) -> bool:
        """This process is the release the updater has switched to and is checking."""
        result = self._result or {}
        return result.get("state") == sw.CHECKING and result.get("version") == self.running

    def _read_result(self) -> bool:
        result = sw.read_small_json(self.root / sw.RESULT_FILE)
        if result is None or result == self._result:
            return False
        self._result = result
        state, digest = result.get("state"), result.get("manifest")
        version, detail = result.get("version"), str(result.get("detail", ""))[:500]
        if state not in sw.RESULTS or not isinstance(digest, str) or not isinstance(version, str):
            return False
        log.info("updater: %s %s%s", version, state, f" ({detail})" if detail else "")
        return self._take_result(state, version, digest, detail)

    def _take_result(self, state: str, version: str, digest: str, detail: str) -> bool:
        about = {"desired": version, "digest": digest, "level": self._report.get("level")}
        ours = self._target is not None and self._target.digest == digest
        if state in sw.FINAL_RESULTS:
            if state == sw.HEALTHY and version != self.running:
                return False  # an old result: this process is another release
            if state != sw.HEALTHY:
                self._remember_failed(digest, state, detail)
            self._forget_ready(version, digest)
            if ours:
                self._drop_target()
            return self._set(state, detail or f"running {version}", **about)
        if version == self.running or ours:
            shown = "switched; health check" if state == sw.CHECKING else "building the release"
            return self._set(sw.INSTALLING, shown, **about)
        return False

    def _remember_failed(self, digest: str, state: str, detail: str) -> None:
        if digest in self._failed:
            return
        self._failed[digest] = {"state": state, "detail": detail, "at": now_utc()}
        while len(self._failed) > MAX_FAILED:
            self._failed.pop(next(iter(self._failed)))
        try:
            write_atomic(self.root / FAILED_FILE, canonical.dumps(self._failed), mode=0o640)
        except OSError as exc:
            log.warning("cannot write %s: %s", FAILED_FILE, exc.strerror or exc)

    def _forget_ready(self, version: str, digest: str) -> None:
        """The updater is done with manifest ``digest``: its request and its folder go (not
        those of a newer push of the same version)."""
        request = sw.read_small_json(self.root / sw.REQUEST_FILE) or {}
        if request.get("manifest") == digest:
            remove(self.root / sw.REQUEST_FILE)
        remove(self.root / sw.HEALTH_FILE)
        folder = self._ready_dir / version
        try:
            kept = sw.digest((folder / sw.MANIFEST_FILE).read_bytes())
        except OSError:
            kept = None
        if kept == digest or (folder.exists() and kept is None):
            remove(folder)

    # -- reports ---------------------------------------------------------------------------

    def _about(self) -> dict[str, Any]:
        target = self._target
        if target is None:
            return {}
        return {"desired": target.manifest.version, "digest": target.digest, "level": target.level}

    def _set(
        self,
        state: str,
        detail: str,
        desired: str | None = None,
        *,
        digest: str | None = None,
        level: str | None = None,
    ) -> bool:
        report = {
            "version_running": self.running,
            "desired": desired,
            "manifest": digest,
            "level": level,
            "state": state,
            "detail": detail,
        }
        if report == {k: self._report.get(k) for k in report}:
            return False
        self._report = report
        return True

    def reported(self) -> dict[str, Any]:
        """The retained ``software/reported`` document (the agent adds device and time)."""
        return {
            "version_running": self.running,
            "desired": None,
            "manifest": None,
            "level": None,
            **self._report,
            "wheels_cached": len(self._wheels),
        }


def _file_sha256(path: Path) -> str:
    whole = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(1024 * 1024):
            whole.update(piece)
    return whole.hexdigest()
