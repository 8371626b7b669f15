"""Content manifests: what health information a device serves, signed by the fleet.

A manifest is a signed document (:mod:`healthhub.protocol.signed`), pushed retained on the
content topic of its scope (``Scope.content_topic()``)::

    {"kind": "content", "scope": {"site": "practice-a"}, "version": 4,
     "issued_at": "2026-11-23T10:00:00Z",
     "files": [{"path": "pages/blood-pressure.md", "sha256": "<hex>", "size": 1234,
                "chunks": ["<hex>"]}, ...],
     "signature": {"alg": "Ed25519", "value": "..."}}

Files travel apart from the manifest, as blobs addressed by hash on the retained topics
``content/blobs/{sha256}``. The broker refuses messages over 256 KiB, so a file is cut into
chunks of :data:`CHUNK_BYTES` (192 KiB, leaving room for the MQTT header and properties) and
each chunk is one blob named by its own sha256. A file of at most one chunk has exactly one,
whose hash is the file's hash; an empty file has one empty chunk, which is never published
(an empty retained message clears a topic in MQTT): a device makes it itself. A manifest thus
pins every byte it asks for, and a blob that does not hash to its name is never used.

Scopes are those of configuration layers (fleet, site, device); the effective content of a
device is the union of its three manifests by path, the higher level winning per path
(:func:`effective`). Paths are checked strictly (:func:`check_path`): a manifest can name a
file only inside the device's content folder, never ``..``, an absolute path, a hidden file
or a name a shell or a file system would treat specially. Every bound is explicit:
:data:`MAX_FILES` files and :data:`MAX_MANIFEST_BYTES` encoded bytes per manifest (the byte
limit binds first for small files: about 1,400 single-chunk entries), :data:`MAX_FILE_BYTES`
per file, :data:`MAX_DEPTH` folders and :data:`MAX_PATH_CHARS` characters per path.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from healthhub.protocol import canonical, signed
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.config_layers import LEVELS, LayerRejected, Scope, parse_scope
from healthhub.protocol.errors import MalformedMessage, ProtocolError

KIND: Final = "content"
#: One blob's payload: the broker's message_size_limit is 256 KiB, and topic, properties and
#: headers must fit beside it.
CHUNK_BYTES: Final = 192 * 1024
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
MAX_FILES: Final = 5000
#: A manifest is itself a retained message every device holds in memory.
MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_PATH_CHARS: Final = 255
MAX_DEPTH: Final = 8
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()

# One path component: starts with a letter or digit (no "..", no hidden files, no "-rf"),
# then letters, digits, ".", "_" and "-": safe in a file name on every file system we meet.
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE_FIELDS = frozenset({"path", "sha256", "size", "chunks"})


class ContentRejected(ProtocolError):
    """A manifest, file or folder that must not be used; ``str()`` is the reason to report."""


@dataclass(frozen=True)
class ContentFile:
    path: str  # relative POSIX path inside the content folder
    sha256: str
    size: int
    chunks: tuple[str, ...]  # sha256 of each blob, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "chunks": list(self.chunks),
        }


@dataclass(frozen=True)
class ContentManifest:
    scope: Scope
    version: int
    issued_at: str
    files: tuple[ContentFile, ...]  # sorted by path

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "scope": self.scope.to_json(),
            "version": self.version,
            "issued_at": self.issued_at,
            "files": [file.to_json() for file in self.files],
        }


# -- checks --------------------------------------------------------------------------------


def check_path(path: object) -> str:
    """``path`` if it is a safe relative path inside a content folder; else
    :class:`ContentRejected` saying which rule it breaks."""
    if not isinstance(path, str) or not path:
        raise ContentRejected("a content path must be a non-empty string")
    shown = repr(path[:80])
    if len(path) > MAX_PATH_CHARS:
        raise ContentRejected(
            f"content path {shown}... is {len(path)} characters; the limit is {MAX_PATH_CHARS}"
        )
    if "\\" in path:
        raise ContentRejected(f"content path {shown} has a backslash: use '/' between folders")
    if path.startswith("/"):
        raise ContentRejected(f"content path {shown} is absolute: paths are relative")
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        raise ContentRejected(
            f"content path {shown} has {len(parts)} components; the limit is {MAX_DEPTH}"
        )
    for part in parts:
        if not part:
            raise ContentRejected(f"content path {shown} has an empty component ('//' or '/')")
        if part.startswith("."):
            raise ContentRejected(
                f"content path {shown} names {part!r}: names starting with a dot "
                "('.', '..', hidden files) are not allowed"
            )
        if not _COMPONENT.fullmatch(part):
            raise ContentRejected(
                f"content path {shown} has component {part[:40]!r}: use 1-100 letters, "
                "digits, '.', '_' and '-', starting with a letter or digit"
            )
    return path


def _check_sha(value: object, what: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise ContentRejected(f"{what} must be a sha256 in 64 lower-case hex digits")
    return value


def chunk_count(size: int) -> int:
    """How many chunks a file of ``size`` bytes has (an empty file has one)."""
    return max(1, math.ceil(size / CHUNK_BYTES))


def check_file(file: ContentFile) -> ContentFile:
    """``file`` if its path, hashes, size and chunk list are consistent."""
    path = check_path(file.path)
    _check_sha(file.sha256, f"sha256 of {path}")
    size = file.size
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ContentRejected(f"size of {path} must be a whole number of bytes")
    if size > MAX_FILE_BYTES:
        raise ContentRejected(f"{path} is {size} bytes; the limit is {MAX_FILE_BYTES} per file")
    if not isinstance(file.chunks, tuple) or not file.chunks:
        raise ContentRejected(f"{path} has no chunks (an empty file has one, of no bytes)")
    for index, chunk_sha in enumerate(file.chunks):
        _check_sha(chunk_sha, f"chunk {index} of {path}")
    if len(file.chunks) != chunk_count(size):
        raise ContentRejected(
            f"{path} has {len(file.chunks)} chunks; {size} bytes in chunks of "
            f"{CHUNK_BYTES} make {chunk_count(size)}"
        )
    if len(file.chunks) == 1 and file.chunks[0] != file.sha256:
        raise ContentRejected(f"{path} is one chunk, so the chunk's sha256 must be the file's")
    return file


def check_files(files: Iterable[ContentFile]) -> tuple[ContentFile, ...]:
    """Every file checked, no path twice, no path both a file and a folder; sorted by path."""
    checked = sorted((check_file(file) for file in files), key=lambda file: file.path)
    if len(checked) > MAX_FILES:
        raise ContentRejected(f"manifest has {len(checked)} files; the limit is {MAX_FILES}")
    paths: set[str] = set()
    for file in checked:
        if file.path in paths:
            raise ContentRejected(f"{file.path} is named twice")
        paths.add(file.path)
    for path in paths:
        for folder in _folders_of(path):
            if folder in paths:
                raise ContentRejected(f"{folder} is a file and also the folder of {path}")
    return tuple(checked)


def _folders_of(path: str) -> Iterator[str]:
    """``a``, ``a/b`` for ``a/b/c``: the folders a file needs."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        yield "/".join(parts[:depth])


def _parse_file(value: object) -> ContentFile:
    if not isinstance(value, dict):
        raise ContentRejected("each entry of files must be a mapping")
    if set(value) != _FILE_FIELDS:
        unknown = sorted(set(value) - _FILE_FIELDS)
        missing = sorted(_FILE_FIELDS - set(value))
        raise ContentRejected(
            "a file entry has exactly path, sha256, size and chunks"
            + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    chunks = value["chunks"]
    if not isinstance(chunks, list):
        raise ContentRejected(f"chunks of {check_path(value['path'])} must be a list")
    return ContentFile(value["path"], value["sha256"], value["size"], tuple(chunks))


# -- the document --------------------------------------------------------------------------


def make(
    scope: Scope, version: int, issued_at: str, files: Iterable[ContentFile]
) -> ContentManifest:
    """A manifest to sign, checked as a device will check it."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ContentRejected("version must be a whole number from 1")
    try:
        parse_utc(issued_at, field="issued_at")
    except MalformedMessage as exc:
        raise ContentRejected(str(exc)) from None
    return ContentManifest(scope, version, issued_at, check_files(files))


def encode(manifest: ContentManifest, signing_key_seed: bytes) -> bytes:
    """The retained payload: the signed manifest as canonical JSON."""
    payload = canonical.dumps(signed.sign(manifest.to_json(), signing_key_seed))
    if len(payload) > MAX_MANIFEST_BYTES:
        raise ContentRejected(
            f"manifest is {len(payload)} bytes; the limit is {MAX_MANIFEST_BYTES} "
            "(split the content between scopes or push fewer files)"
        )
    return payload


def decode(payload: bytes, verify_key: bytes, *, expected: Scope) -> ContentManifest:
    """Check a manifest as received on ``expected``'s content topic: size, JSON, signature,
    kind, scope, time stamp, version and files, in that order. Any failure is
    :class:`ContentRejected` (a forged signature included) with a reason fit to report."""
    unsigned = signed.open_signed(
        payload,
        verify_key,
        kind=KIND,
        what="manifest",
        max_bytes=MAX_MANIFEST_BYTES,
        error=ContentRejected,
    )
    try:
        scope = parse_scope(unsigned.get("scope"))
    except LayerRejected as exc:
        raise ContentRejected(str(exc)) from None
    if scope != expected:
        raise ContentRejected(f"manifest is for {scope}, but came on the topic of {expected}")
    issued_at = unsigned.get("issued_at")
    if not isinstance(issued_at, str):
        raise ContentRejected("issued_at must be an ISO 8601 string")
    version = unsigned.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ContentRejected("version must be a whole number from 1")
    files = unsigned.get("files")
    if not isinstance(files, list):
        raise ContentRejected("files must be a list")
    if len(files) > MAX_FILES:
        raise ContentRejected(f"manifest has {len(files)} files; the limit is {MAX_FILES}")
    return make(scope, version, issued_at, [_parse_file(entry) for entry in files])


# -- files and folders ---------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk(data: bytes) -> list[tuple[str, bytes]]:
    """``data`` cut into blobs: ``(sha256, bytes)`` in order; one empty chunk for no data."""
    if not data:
        return [(EMPTY_SHA256, b"")]
    pieces = (data[at : at + CHUNK_BYTES] for at in range(0, len(data), CHUNK_BYTES))
    return [(_sha256(piece), piece) for piece in pieces]


def describe(path: str, data: bytes) -> ContentFile:
    """The manifest entry of ``data`` published at ``path``."""
    if len(data) > MAX_FILE_BYTES:
        raise ContentRejected(f"{path} is {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
    chunks = tuple(sha for sha, _ in chunk(data))
    return check_file(ContentFile(check_path(path), _sha256(data), len(data), chunks))


def iter_chunks(source: Path) -> Iterator[tuple[str, bytes]]:
    """The blobs of the file at ``source``, read :data:`CHUNK_BYTES` at a time, so a
    64 MiB file is never held whole in memory. OSError is the caller's (a console command
    says which file it could not read)."""
    with source.open("rb") as handle:
        first = True
        while piece := handle.read(CHUNK_BYTES):
            first = False
            yield _sha256(piece), piece
        if first:
            yield EMPTY_SHA256, b""


def hash_chunks(
    source: Path, *, name: str, limit: int, refused: type[ProtocolError]
) -> tuple[str, int, tuple[str, ...]]:
    """(sha256, size, chunk hashes) of the file at ``source``, read once (:func:`iter_chunks`);
    ``refused`` (naming ``name``) when it is over ``limit`` bytes or cannot be read."""
    whole = hashlib.sha256()
    size = 0
    chunks: list[str] = []
    try:
        for sha, piece in iter_chunks(source):
            whole.update(piece)
            size += len(piece)
            if size > limit:
                raise refused(f"{name} is over {limit} bytes, the limit")
            chunks.append(sha)
    except OSError as exc:
        raise refused(f"cannot read {source}: {exc.strerror or exc}") from None
    return whole.hexdigest(), size, tuple(chunks)


def describe_file(path: str, source: Path) -> ContentFile:
    """The manifest entry of the file at ``source`` published at ``path``, hashed as it is
    read."""
    check_path(path)
    sha, size, chunks = hash_chunks(
        source, name=path, limit=MAX_FILE_BYTES, refused=ContentRejected
    )
    return check_file(ContentFile(path, sha, size, chunks))


def scan_folder(folder: Path) -> list[tuple[ContentFile, Path]]:
    """Every file under ``folder`` as a manifest entry and where to read it, sorted by path.

    Nothing is skipped silently: a name that breaks the path rules, a hidden file or folder
    (``.DS_Store``, ``.git``), a symbolic link (it could point anywhere on the console's
    machine) or anything that is not a plain file is a :class:`ContentRejected` naming it,
    so what is pushed is exactly what IT staff see in the folder. Empty folders hold no file
    and so are not part of a manifest.
    """
    if not folder.is_dir():
        raise ContentRejected(f"{folder} is not a folder")
    found: list[tuple[ContentFile, Path]] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(folder, ())]
    while stack:
        directory, parts = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise ContentRejected(f"cannot read {directory}: {exc.strerror or exc}") from None
        if entries and len(parts) >= MAX_DEPTH:
            raise ContentRejected(f"{directory} is nested over {MAX_DEPTH} folders deep")
        for entry in entries:
            _scan_entry(folder, Path(entry.path), (*parts, entry.name), stack, found)
        if len(found) > MAX_FILES:
            raise ContentRejected(f"{folder} has over {MAX_FILES} files, the limit")
    found.sort(key=lambda item: item[0].path)
    check_files(file for file, _ in found)
    return found


def _scan_entry(
    folder: Path,
    source: Path,
    parts: tuple[str, ...],
    stack: list[tuple[Path, tuple[str, ...]]],
    found: list[tuple[ContentFile, Path]],
) -> None:
    if parts[-1].startswith("."):
        raise ContentRejected(
            f"{source} is hidden (its name starts with a dot): hidden files are never "
            "pushed; remove it or rename it"
        )
    try:
        mode = source.lstat().st_mode
    except OSError as exc:
        raise ContentRejected(f"cannot read {source}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise ContentRejected(f"{source} is a symbolic link: copy the file itself into {folder}")
    if stat.S_ISDIR(mode):
        stack.append((source, parts))
        return
    if not stat.S_ISREG(mode):
        raise ContentRejected(f"{source} is not a plain file")
    path = "/".join(parts)
    try:
        check_path(path)
    except ContentRejected as exc:
        raise ContentRejected(f"{source}: {exc}") from None
    found.append((describe_file(path, source), source))


# -- the union of the levels ---------------------------------------------------------------


def effective(manifests: Mapping[str, ContentManifest]) -> dict[str, tuple[ContentFile, Scope]]:
    """The files a device serves: ``manifests`` (by level) united by path, device over site
    over fleet. A higher level's file also displaces lower-level files that would clash with
    it as file against folder (a device ``help`` file hides a fleet ``help/a.md``, and a
    device ``help/a.md`` hides a fleet ``help`` file), so the union is always a valid tree."""
    merged: dict[str, tuple[ContentFile, Scope]] = {}
    for level in LEVELS:
        manifest = manifests.get(level)
        if manifest is None:
            continue
        paths = {file.path for file in manifest.files}
        folders = {folder for path in paths for folder in _folders_of(path)}
        for below in list(merged):
            if below in paths or below in folders or any(f in paths for f in _folders_of(below)):
                del merged[below]
        for file in manifest.files:
            merged[file.path] = (file, manifest.scope)
    return dict(sorted(merged.items()))


def files_digest(files: Mapping[str, tuple[ContentFile, Scope]]) -> str:
    """The name of a set of files: sha256 of the canonical JSON of ``{path: sha256}``. Two
    sets with the same digest have the same bytes at the same paths, whoever sent them."""
    return _sha256(canonical.dumps({path: file.sha256 for path, (file, _) in files.items()}))


def needed_bytes(files: Mapping[str, tuple[ContentFile, Scope]]) -> int:
    """Bytes of the distinct blobs a set needs on disk (a file at two paths is kept once)."""
    return sum({file.sha256: file.size for file, _ in files.values()}.values())
