"""Content on a device: signed manifests in, one complete folder of files out.

The store is transport-free. The agent hands it each manifest received on the three content
topics (:meth:`ContentStore.offer`) and each blob received on ``content/blobs/{sha256}``
(:meth:`ContentStore.receive`), subscribes to the blobs :meth:`ContentStore.wanted` lists, and
publishes :meth:`ContentStore.reported` on ``devices/{device}/content/reported``. The patient
UI reads files through :attr:`ContentStore.current_dir` and nothing else.

**Chunks and blobs.** A manifest names every file by sha256 and size, and every chunk of it
by sha256 (:mod:`healthhub.protocol.content`). A chunk is hashed before it is written, so
nothing unasked-for or altered reaches the disk; it waits under ``chunks/`` until its file is
whole, then the file is joined into ``blobs/{file_sha256}`` and checked against the manifest's
sha256 and size. Each stored chunk is hashed again as it is joined: one damaged on the card is
deleted and fetched again, not blamed on the console. A blob that does not match its manifest
refuses the manifests that need it ("blob ... does not match its hash"): fetching it again
would bring the same bytes, so the same payload is not tried again until a new version comes.

**Staging and the switch.** A *set* is a folder of read-only hard links to blobs, named by
the digest of its ``{path: sha256}`` (:func:`~healthhub.protocol.content.files_digest`). It is
built under a temporary name, every folder fsynced, and renamed: ``sets/{digest}`` exists only
complete. ``current`` is a relative symbolic link to the set being served, replaced by
renaming a new link over it (atomic) and fsyncing the root; only then is ``manifests.json``
(the signed payloads, re-verified at every start) written, and only then is anything deleted.
A power cut therefore leaves the old set or the new one whole: on start the store serves the
set of the manifests it kept, switching back if it was cut after a switch (the old set is
still there), and the retained manifests the broker sends again apply from the blobs still on
disk, without fetching anything.

**Clean-up and bounds.** After an apply, every set but the current one is deleted, and every
blob and chunk not needed by the held manifests or a pending target (and not linked into the
current set). A rejected target's downloads go the same way. A target whose distinct blobs
exceed ``budget_bytes`` is refused before anything is fetched; while a new set downloads the
old one is still served, so the disk holds up to twice the budget, plus chunks of the file
being joined and at most one budget of leftovers from superseded targets (kept so that a
restart or a quick re-push resumes instead of fetching again). Every bound (budget, chunk
size, files and bytes per manifest and per file) is in :meth:`ContentStore.reported`.

**Decisions.** All changed levels form one pending target (what the device will serve), so
a fleet and a device push in flight switch once, together. A newer version offered at a level
already pending replaces it there; the superseded version is dropped without a report of its
own (the level's report moves on to the newer version, which is what a console waiting for
the old one needs to see). The pending target lives in memory only: after a restart the
broker re-sends the retained manifests and the chunks already stored count. Disk errors
(a full card) reject the pending target and keep what is served; nothing here raises on bad
disk contents.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from healthhub.agent.blob_files import remove, write_new
from healthhub.protocol import canonical
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import LEVELS, Scope, scopes_of
from healthhub.protocol.content import (
    CHUNK_BYTES,
    EMPTY_SHA256,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    ContentFile,
    ContentManifest,
    ContentRejected,
    decode,
    effective,
    files_digest,
    needed_bytes,
)
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.files import fsync_directory, write_atomic

log = logging.getLogger(__name__)

MANIFESTS_FILE = "manifests.json"
CURRENT = "current"
CHUNKS = "chunks"
BLOBS = "blobs"
SETS = "sets"

_HASH_NAME = re.compile(r"[0-9a-f]{64}")
_DIR_MODE = 0o755


@dataclass(frozen=True)
class ContentReport:
    """What a device says of one level's manifest: the version it serves and what became of
    the last one offered (``pending`` while its blobs arrive, ``applied``, ``rejected``)."""

    level: str
    state: str
    version: int | None  # the version offered (None: withdrawn, or not readable)
    held: int | None  # the version served now at this level (None: nothing at this level)
    reason: str = ""
    at: str = ""
    missing: int = 0  # chunks the pending target still waits for

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "version": self.version,
            "held": self.held,
            "reason": self.reason,
            "at": self.at,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class _Layers:
    """Manifests by level, as received, and the set of files they make together."""

    payloads: dict[str, bytes]
    manifests: dict[str, ContentManifest]
    files: dict[str, tuple[ContentFile, Scope]]
    digest: str

    @classmethod
    def of(cls, payloads: Mapping[str, bytes], manifests: Mapping[str, ContentManifest]) -> _Layers:
        files = effective(manifests)
        return cls(dict(payloads), dict(manifests), files, files_digest(files))

    def version(self, level: str) -> int | None:
        manifest = self.manifests.get(level)
        return None if manifest is None else manifest.version

    def blobs(self) -> dict[str, ContentFile]:
        return {file.sha256: file for file, _ in self.files.values()}

    def size(self) -> int:
        return needed_bytes(self.files)

    def changed_from(self, other: _Layers) -> list[str]:
        return [lv for lv in LEVELS if self.payloads.get(lv) != other.payloads.get(lv)]

    def without(self, level: str) -> _Layers:
        return _Layers.of(
            {lv: p for lv, p in self.payloads.items() if lv != level},
            {lv: m for lv, m in self.manifests.items() if lv != level},
        )


_NOTHING = _Layers.of({}, {})


@dataclass(frozen=True)
class _Served:
    """The set ``current`` points to (None: none yet), its file count and bytes."""

    digest: str | None
    files: int = 0
    bytes: int = 0


class _Refused(Exception):
    """A blob that does not match its manifest: the manifests needing it are refused."""

    def __init__(self, sha: str, reason: str) -> None:
        super().__init__(reason)
        self.sha = sha
        self.reason = reason


class _Damaged(Exception):
    """A stored chunk that no longer hashes to its name: deleted, to be fetched again."""


def _disk_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    return f"cannot write content: {exc.strerror or exc}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ancestors(path: str) -> list[str]:
    """``a``, ``a/b`` for ``a/b/c``."""
    return [str(parent) for parent in reversed(PurePosixPath(path).parents) if str(parent) != "."]


class ContentStore:
    """The content a device holds under ``root`` and serves through :attr:`current_dir`.

    Calls do file I/O (fsyncs, joining files of up to 64 MiB): the agent makes them one at a
    time, off its event loop (``asyncio.to_thread``)."""

    def __init__(
        self, root: Path, verify_key: bytes, *, device: str, site: str, budget_bytes: int
    ) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        self.scopes = scopes_of(device, site)
        self._verify_key = verify_key
        self._chunk_dir = root / CHUNKS
        self._blob_dir = root / BLOBS
        self._set_dir = root / SETS
        self._held = _NOTHING  # the manifests whose set is served
        self._pending: _Layers | None = None  # the target being fetched
        self._served = _Served(None)
        self.reports: dict[str, ContentReport] = {}
        self._refused: dict[str, bytes] = {}  # payloads refused for good, by level
        self._blobs: dict[str, int] = {}  # sha256 -> size of what is in blobs/
        self._chunks: dict[str, int] = {}  # sha256 -> size of what is in chunks/
        self._missing: dict[str, ContentFile] = {}  # files of the target not yet in blobs/
        self._users: dict[str, set[str]] = {}  # chunk sha256 -> missing files needing it
        try:
            self._recover()
        except OSError as exc:
            log.error("content folder unusable (%s): content cannot change", exc.strerror or exc)

    @property
    def current_dir(self) -> Path:
        """The folder the UI reads: a link to the set being served, switched atomically."""
        return self.root / CURRENT

    @property
    def served_digest(self) -> str | None:
        """The digest of the set being served (None before any content)."""
        return self._served.digest

    def level_of(self, topic: str) -> str | None:
        """Which level's manifest arrives on ``topic`` (None: not a content topic of ours)."""
        return next(
            (lv for lv, scope in self.scopes.items() if scope.content_topic() == topic), None
        )

    # -- start: what is on the card ----------------------------------------------------

    def _recover(self) -> None:
        """Serve what the kept manifests describe, or the last complete set.

        The kept manifests are re-verified (a copy edited or damaged on the card is dropped
        and reported). Their set is served if it is complete, or built if all its blobs are
        here. Otherwise (a kept manifest was dropped and the blobs it shadowed were cleaned
        up, or files were lost) the complete set ``current`` points to is served as it is,
        no level is claimed as held, and the verifiable manifests become the pending target:
        their missing blobs are fetched and they apply as any new content does. A
        ``manifests.json`` that cannot be read at all says nothing about what to serve, so
        the last complete set stays until the broker sends the manifests again.
        """
        for directory in (self.root, self._chunk_dir, self._blob_dir, self._set_dir):
            directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        self._sweep()
        kept, readable = self._load()
        served = self._current_name()
        if not readable and served is not None:
            self._served = self._describe_set(served)
        elif not self._serve(kept):
            if served is not None:
                self._served = self._describe_set(served)
            else:
                self._serve(_NOTHING)
            if kept.payloads:
                log.warning("kept content is incomplete: serving the last set until it is")
                levels = [(level, kept.version(level)) for level in kept.payloads]
                self._start(kept, levels, "kept copy: fetching the blobs it needs")
        self._remove_other_sets()

    def _sweep(self) -> None:
        """Remove what an interrupted run left: temporary files, links and sets, and
        anything in ``chunks/`` or ``blobs/`` not named by a hash; index the rest."""
        for entry in os.scandir(self.root):
            if entry.name.startswith("."):
                remove(Path(entry.path))
        for entry in os.scandir(self._set_dir):
            if entry.name.startswith(".") or not _HASH_NAME.fullmatch(entry.name):
                remove(Path(entry.path))
        for directory, index in ((self._chunk_dir, self._chunks), (self._blob_dir, self._blobs)):
            for entry in os.scandir(directory):
                if _HASH_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    index[entry.name] = entry.stat(follow_symlinks=False).st_size
                else:
                    remove(Path(entry.path))

    def _load(self) -> tuple[_Layers, bool]:
        """The kept manifests that still verify, and whether the file could be read."""
        path = self.root / MANIFESTS_FILE
        try:
            kept = canonical.loads(path.read_bytes(), what=MANIFESTS_FILE)
        except FileNotFoundError:
            return _NOTHING, True
        except (OSError, MalformedMessage) as exc:
            log.error("%s cannot be read (%s)", MANIFESTS_FILE, exc)
            return _NOTHING, False
        if not isinstance(kept, dict):
            log.error("%s is not a mapping", MANIFESTS_FILE)
            return _NOTHING, False
        payloads: dict[str, bytes] = {}
        manifests: dict[str, ContentManifest] = {}
        for level in LEVELS:
            text = kept.get(level)
            if text is None:
                continue
            try:
                if not isinstance(text, str):
                    raise ContentRejected("not a manifest")
                payload = text.encode("utf-8")
                manifests[level] = decode(payload, self._verify_key, expected=self.scopes[level])
                payloads[level] = payload
            except (ContentRejected, UnicodeEncodeError) as exc:
                log.error("kept %s manifest dropped: %s", level, exc)
                self._record(level, "rejected", None, f"kept copy: {exc}")
        return _Layers.of(payloads, manifests), True

    def _serve(self, layers: _Layers) -> bool:
        """Serve ``layers``' set if it is complete or can be built now; False if not."""
        try:
            if not self._set_complete(layers):
                if not self._blobs_on_disk(layers):
                    return False
                self._build_set(layers)
            if self._current_name() != layers.digest:
                self._switch(layers.digest)
        except OSError as exc:
            log.error("cannot serve the kept content: %s", exc.strerror or exc)
            return False
        self._held = layers
        self._served = _Served(layers.digest, len(layers.files), layers.size())
        return True

    def _current_name(self) -> str | None:
        """The digest of the set ``current`` points to, if it is one of ours."""
        try:
            target = os.readlink(self.current_dir)
        except OSError:
            return None
        name = target.removeprefix(f"{SETS}/")
        if not _HASH_NAME.fullmatch(name) or target != f"{SETS}/{name}":
            return None
        try:
            is_dir = stat.S_ISDIR((self._set_dir / name).lstat().st_mode)
        except OSError:
            return None
        return name if is_dir else None

    def _describe_set(self, name: str) -> _Served:
        files = size = 0
        for folder, _, names in os.walk(self._set_dir / name):
            for file_name in names:
                with contextlib.suppress(OSError):
                    size += (Path(folder) / file_name).lstat().st_size
                    files += 1
        return _Served(name, files, size)

    def _set_complete(self, layers: _Layers) -> bool:
        """Whether ``sets/{digest}`` holds every file at its size. File data is fsynced
        before it is linked and a set is renamed into place only whole, so sizes are enough
        (hashing a whole set at every start would cost minutes on an SD card)."""
        base = self._set_dir / layers.digest
        try:
            if not stat.S_ISDIR(base.lstat().st_mode):
                return False
            for path, (file, _) in layers.files.items():
                info = (base / path).lstat()
                if not stat.S_ISREG(info.st_mode) or info.st_size != file.size:
                    return False
        except OSError:
            return False
        return True

    def _blobs_on_disk(self, layers: _Layers) -> bool:
        """Whether every blob of ``layers`` is in ``blobs/`` at its size; one that is not is
        forgotten, so that it is wanted again."""
        whole = True
        for sha, file in layers.blobs().items():
            if sha == EMPTY_SHA256:
                continue  # made here when a set needs it
            try:
                size = (self._blob_dir / sha).lstat().st_size
            except OSError:
                size = -1
            if size != file.size:
                self._drop(self._blob_dir, self._blobs, sha)
                whole = False
        return whole

    # -- manifests arrive --------------------------------------------------------------

    def offer(self, level: str, payload: bytes) -> ContentReport | None:
        """Decide on a manifest received at ``level``'s topic (empty: the topic was cleared).

        Returns the level's report to publish: ``pending`` (with the chunks it waits for),
        ``applied`` when every blob is here already, or ``rejected``. None when nothing
        changed: a retained manifest the broker sent again, or one refused for good (a bad
        blob, over the budget). Other levels may change too (a pending target applied with
        this one): :meth:`reported` holds every level's state."""
        if level not in self.scopes:
            raise ValueError(f"unknown content level {level!r}; levels are {', '.join(LEVELS)}")
        # What the next change builds on: the pending target if there is one.
        latest = self._held if self._pending is None else self._pending
        if not payload:
            if level not in latest.payloads:
                return None
            return self._propose(level, latest.without(level), None, payload)
        if payload == latest.payloads.get(level) or payload == self._refused.get(level):
            return None  # re-sent by the broker, or already refused for good
        try:
            manifest = decode(payload, self._verify_key, expected=self.scopes[level])
        except ContentRejected as exc:
            return self._reject(level, None, str(exc))
        known = max(
            (v for v in (self._held.version(level), latest.version(level)) if v is not None),
            default=None,
        )
        if known is not None and manifest.version <= known:
            return self._reject(
                level, manifest.version, f"version {manifest.version} is not newer than {known}"
            )
        target = _Layers.of(
            {**latest.payloads, level: payload}, {**latest.manifests, level: manifest}
        )
        return self._propose(level, target, manifest.version, payload)

    def _propose(
        self, level: str, target: _Layers, version: int | None, payload: bytes
    ) -> ContentReport:
        size = target.size()
        if size > self.budget_bytes:
            if payload:
                self._refused[level] = payload
            return self._reject(
                level, version, f"needs {size} bytes; the content budget is {self.budget_bytes}"
            )
        pending = self._pending
        if pending is not None and level in pending.changed_from(self._held):
            log.info(
                "content %s version %s superseded by %s", level, pending.version(level), version
            )
        reason = "" if payload else "layer withdrawn"
        if not target.changed_from(self._held):  # a pending change withdrawn again
            self._pending, self._missing, self._users = None, {}, {}
            self._collect(limit=self.budget_bytes)
            return self._record(level, "applied", version, reason)
        self._start(target, [(level, version)], reason)
        self._collect(limit=self.budget_bytes)
        return self._outcome(level)

    def _start(
        self, target: _Layers, levels: list[tuple[str, int | None]], reason: str = ""
    ) -> list[ContentReport]:
        """Make ``target`` the pending target and take it as far as the disk allows."""
        self._pending = target
        for level, version in levels:
            self._record(level, "pending", version, reason)
        return self._advance(None)

    # -- blobs arrive ------------------------------------------------------------------

    def wanted(self) -> list[str]:
        """The chunks the pending target still needs, in file order, each once."""
        if self._pending is None:
            return []
        seen: set[str] = set()
        wanted: list[str] = []
        for file, _ in self._pending.files.values():
            if file.sha256 not in self._missing:
                continue
            for sha in file.chunks:
                if sha not in seen and not self._have_chunk(sha):
                    seen.add(sha)
                    wanted.append(sha)
        return wanted

    def receive(self, chunk_sha: str, payload: bytes) -> list[ContentReport]:
        """Take a blob received on ``content/blobs/{chunk_sha}``.

        Returns the reports of levels that changed state (``applied`` when the target is
        complete, ``rejected`` when it cannot be); [] while it is still being fetched, or
        for a blob nobody wants."""
        users = self._users.get(chunk_sha)
        if self._pending is None or not users or self._have_chunk(chunk_sha):
            return []
        files = [self._missing[sha] for sha in sorted(users)]
        try:
            if _sha256(payload) != chunk_sha:
                raise _Refused(chunk_sha, f"blob {chunk_sha} does not match its hash")
            self._store_chunk(chunk_sha, payload, files)
        except _Refused as exc:
            return self._refuse(exc)
        except OSError as exc:
            return self._abandon(_disk_reason(exc))
        return self._advance(files)

    def give_up(self, reason: str) -> list[ContentReport]:
        """Abandon the pending target (its blobs never came): its levels are reported
        rejected with ``reason`` and what is served stays. A later offer of the same
        manifests (the broker re-sends them on reconnect) tries again."""
        return self._abandon(reason)

    def _have_chunk(self, sha: str) -> bool:
        # A blob in blobs/ holds exactly the bytes of the chunk of the same hash.
        return sha == EMPTY_SHA256 or sha in self._chunks or sha in self._blobs

    def _store_chunk(self, sha: str, payload: bytes, files: list[ContentFile]) -> None:
        whole = [file for file in files if file.sha256 == sha]
        for file in whole:
            if len(payload) != file.size:
                raise _Refused(sha, f"{file.path} is {len(payload)} bytes, not {file.size}")
        if whole:  # a one-chunk file: the chunk is the file
            write_new(self._blob_dir, sha, [payload])
            self._blobs[sha] = len(payload)
        else:
            write_new(self._chunk_dir, sha, [payload])
            self._chunks[sha] = len(payload)

    def _advance(self, files: list[ContentFile] | None) -> list[ContentReport]:
        """Join every file of the target whose chunks are all here (all files when
        ``files`` is None: a new target), and apply the target once nothing is missing."""
        try:
            if files is None:
                files = self._plan()
            for file in files:
                if file.sha256 in self._missing and all(map(self._have_chunk, file.chunks)):
                    self._assemble(file)
            if not self._missing and self._pending is not None:
                if not self._blobs_on_disk(self._pending):  # lost since: fetch them again
                    self._plan()
                    return []
                return self._apply(self._pending)
        except _Refused as exc:
            return self._refuse(exc)
        except OSError as exc:
            return self._abandon(_disk_reason(exc))
        return []

    def _plan(self) -> list[ContentFile]:
        """Which files of the target are missing, and which chunks each needs."""
        assert self._pending is not None
        self._missing = {
            file.sha256: file
            for file, _ in self._pending.files.values()
            if file.sha256 != EMPTY_SHA256 and file.sha256 not in self._blobs
        }
        self._users = {}
        for file in self._missing.values():
            for sha in file.chunks:
                self._users.setdefault(sha, set()).add(file.sha256)
        return sorted(self._missing.values(), key=lambda file: file.path)

    def _assemble(self, file: ContentFile) -> None:
        """``blobs/{sha256}`` from the file's chunks, checked against the manifest."""
        if file.sha256 not in self._blobs:
            try:
                write_new(self._blob_dir, file.sha256, self._joined(file))
            except _Damaged:
                return  # the damaged chunk is wanted again
            self._blobs[file.sha256] = file.size
        del self._missing[file.sha256]
        for sha in set(file.chunks):
            users = self._users.get(sha, set())
            users.discard(file.sha256)
            if not users:
                self._users.pop(sha, None)
                if sha in self._chunks:
                    self._drop(self._chunk_dir, self._chunks, sha)

    def _joined(self, file: ContentFile) -> Iterator[bytes]:
        whole = hashlib.sha256()
        size = 0
        for sha in file.chunks:
            data = self._read_chunk(sha)
            whole.update(data)
            size += len(data)
            yield data
        if size != file.size or whole.hexdigest() != file.sha256:
            raise _Refused(file.sha256, f"file {file.path} does not match its sha256 and size")

    def _read_chunk(self, sha: str) -> bytes:
        if sha == EMPTY_SHA256:
            return b""
        for directory, index in ((self._chunk_dir, self._chunks), (self._blob_dir, self._blobs)):
            if sha not in index or index[sha] > CHUNK_BYTES:
                continue
            try:
                data = (directory / sha).read_bytes()
            except OSError:
                data = b""
            if _sha256(data) == sha:
                return data
            log.warning("stored chunk %s is damaged: fetching it again", sha[:12])
            self._drop(directory, index, sha)
        raise _Damaged(sha)

    # -- apply -------------------------------------------------------------------------

    def _apply(self, target: _Layers) -> list[ContentReport]:
        """Build the target's set, switch ``current`` to it, then keep its manifests."""
        old = self._served.digest
        if old != target.digest or not self._set_complete(target):
            self._build_set(target)
        try:
            if self._current_name() != target.digest:
                self._switch(target.digest)
            self._keep(target.payloads)
        except OSError:
            self._restore(old)  # served content must match the manifests kept
            raise
        changed = target.changed_from(self._held)
        self._held, self._pending, self._missing, self._users = target, None, {}, {}
        self._served = _Served(target.digest, len(target.files), target.size())
        reports = [
            self._record(
                level,
                "applied",
                target.version(level),
                "" if level in target.payloads else "layer withdrawn",
            )
            for level in changed
        ]
        log.info("content set %s applied (%d files)", target.digest[:12], len(target.files))
        self._remove_other_sets()
        self._collect()
        return reports

    def _build_set(self, target: _Layers) -> None:
        """``sets/{digest}``: built from scratch under a temporary name, fsynced, renamed."""
        final = self._set_dir / target.digest
        building = self._set_dir / f".{target.digest}.tmp"
        for stale in (building, final):  # left by an interrupted run: never trusted
            remove(stale)
        if any(file.sha256 == EMPTY_SHA256 for file, _ in target.files.values()):
            write_new(self._blob_dir, EMPTY_SHA256, [b""])  # never published: see protocol
            self._blobs[EMPTY_SHA256] = 0
        fsync_directory(self._blob_dir)  # once for every blob joined since the last set
        try:
            building.mkdir(mode=_DIR_MODE)
            folders = sorted({folder for path in target.files for folder in _ancestors(path)})
            for folder in folders:
                (building / folder).mkdir(mode=_DIR_MODE)
            for path, (file, _) in target.files.items():
                os.link(self._blob_dir / file.sha256, building / path)
            for made in [building / folder for folder in reversed(folders)] + [building]:
                os.chmod(made, _DIR_MODE)  # mkdir's mode is masked by the umask
                fsync_directory(made)
        except OSError:
            remove(building)
            raise
        os.rename(building, final)
        fsync_directory(self._set_dir)

    def _switch(self, digest: str) -> None:
        """Point ``current`` at ``sets/{digest}``: a new link renamed over the old one."""
        link = self.root / f".{CURRENT}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(f"{SETS}/{digest}", link)
        try:
            os.replace(link, self.current_dir)
        except BaseException:
            with contextlib.suppress(OSError):
                link.unlink()
            raise
        fsync_directory(self.root)

    def _restore(self, digest: str | None) -> None:
        if digest is None or self._current_name() == digest:
            return
        try:
            self._switch(digest)
        except OSError as exc:  # the start after the next reboot switches back
            log.error("cannot switch content back: %s", exc.strerror or exc)

    def _keep(self, payloads: Mapping[str, bytes]) -> None:
        kept = {level: payload.decode("utf-8") for level, payload in payloads.items()}
        write_atomic(self.root / MANIFESTS_FILE, canonical.dumps(kept), mode=0o600)

    # -- refusals and clean-up ---------------------------------------------------------

    def _refuse(self, exc: _Refused) -> list[ContentReport]:
        """Reject the changed levels whose files need the bad blob (every changed level if
        it is needed through a level that did not change) and carry on with the others."""
        target = self._pending
        assert target is not None
        changed = target.changed_from(self._held)
        culprits = [
            level
            for level in changed
            if any(
                exc.sha in (file.sha256, *file.chunks)
                for file, scope in target.files.values()
                if scope.level == level
            )
        ] or changed
        reports = []
        for level in culprits:
            if level in target.payloads:
                self._refused[level] = target.payloads[level]
            reports.append(self._reject(level, target.version(level), exc.reason))
        rest = self._held
        for level in changed:
            if level in culprits:
                continue
            if level in target.payloads:
                rest = _Layers.of(
                    {**rest.payloads, level: target.payloads[level]},
                    {**rest.manifests, level: target.manifests[level]},
                )
            else:
                rest = rest.without(level)
        self._pending, self._missing, self._users = None, {}, {}
        if rest.changed_from(self._held):
            size = rest.size()
            if size <= self.budget_bytes:
                reports += self._start(rest, [])
            else:  # without the refused level, a file it hid is needed again
                reason = f"needs {size} bytes; the content budget is {self.budget_bytes}"
                for level in rest.changed_from(self._held):
                    reports.append(self._reject(level, rest.version(level), reason))
        self._collect()
        return reports

    def _abandon(self, reason: str) -> list[ContentReport]:
        target = self._pending
        if target is None:
            return []
        reports = [
            self._reject(level, target.version(level), reason)
            for level in target.changed_from(self._held)
        ]
        self._pending, self._missing, self._users = None, {}, {}
        self._collect()
        return reports

    def _remove_other_sets(self) -> None:
        try:
            names = [entry.name for entry in os.scandir(self._set_dir)]
        except OSError as exc:
            log.warning("cannot list content sets: %s", exc.strerror or exc)
            return
        for name in names:
            if name != self._served.digest:
                remove(self._set_dir / name)

    def _collect(self, limit: int = 0) -> None:
        """Delete blobs and chunks nobody needs, if they hold more than ``limit`` bytes.

        Needed: the held set's and the pending target's blobs, the chunks of files still
        missing, and any blob linked into the served set (``st_nlink`` > 1: a set served
        after a start that could not vouch for its manifests)."""
        keep = set(self._held.blobs()) | set(self._users)
        if self._pending is not None:
            keep |= set(self._pending.blobs())
        unneeded: list[tuple[Path, dict[str, int], str]] = []
        for sha in self._blobs:
            if sha in keep:
                continue
            try:
                linked = (self._blob_dir / sha).stat().st_nlink > 1
            except OSError:
                linked = False
            if not linked:
                unneeded.append((self._blob_dir, self._blobs, sha))
        unneeded += [(self._chunk_dir, self._chunks, s) for s in self._chunks if s not in keep]
        if sum(index[sha] for _, index, sha in unneeded) > limit:
            for directory, index, sha in unneeded:
                self._drop(directory, index, sha)

    def _drop(self, directory: Path, index: dict[str, int], sha: str) -> None:
        index.pop(sha, None)
        remove(directory / sha)

    # -- reports -----------------------------------------------------------------------

    def _record(self, level: str, state: str, version: int | None, reason: str) -> ContentReport:
        report = ContentReport(level, state, version, self._held.version(level), reason, now_utc())
        self.reports[level] = report
        return report

    def _reject(self, level: str, version: int | None, reason: str) -> ContentReport:
        log.warning("content %s manifest rejected: %s", level, reason)
        return self._record(level, "rejected", version, reason)

    def _outcome(self, level: str, missing: int | None = None) -> ContentReport:
        report = self.reports.get(level)
        if report is None:
            held = self._held.version(level)
            return ContentReport(level, "none" if held is None else "applied", held, held)
        if report.state == "pending":
            count = len(self.wanted()) if missing is None else missing
            return replace(report, held=self._held.version(level), missing=count)
        return report

    def usage(self) -> dict[str, int]:
        """Bytes and files in ``blobs/`` and ``chunks/`` (a set's files are hard links to
        blobs and cost nothing more), and the budget they are held to."""
        return {
            "bytes": sum(self._blobs.values()) + sum(self._chunks.values()),
            "budget": self.budget_bytes,
            "blobs": len(self._blobs),
            "chunks": len(self._chunks),
        }

    def reported(self) -> dict[str, Any]:
        """The retained ``content/reported`` document: every level, what is served, what is
        being fetched, the disk and every bound."""
        wanted = len(self.wanted())
        pending = self._pending
        return {
            "layers": {level: self._outcome(level, wanted).to_json() for level in LEVELS},
            "current": {
                "digest": self._served.digest,
                "files": self._served.files,
                "bytes": self._served.bytes,
            },
            "pending": None
            if pending is None
            else {
                "digest": pending.digest,
                "files": len(pending.files),
                "bytes": pending.size(),
                "missing": wanted,
                "versions": {level: pending.version(level) for level in LEVELS},
            },
            "disk": self.usage(),
            "limits": {
                "budget_bytes": self.budget_bytes,
                "chunk_bytes": CHUNK_BYTES,
                "max_files": MAX_FILES,
                "max_file_bytes": MAX_FILE_BYTES,
                "max_manifest_bytes": MAX_MANIFEST_BYTES,
            },
        }
