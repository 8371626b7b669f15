"""Software updates: the signed manifest of a release's wheel set, and what a unit reports.

A manifest is a signed document (:mod:`healthhub.protocol.signed`), pushed retained on the
software topic of its scope (:func:`software_topic`)::

    {"kind": "software", "scope": {"site": "practice-a"}, "version": "0.1.1",
     "issued_at": "2026-11-23T10:00:00.000Z", "allow_downgrade": false,
     "health": {"deadline_s": 300},
     "files": [{"name": "healthhub-0.1.1-py3-none-any.whl", "sha256": "<hex>",
                "size": 1497754, "chunks": ["<hex>", ...]}, ...],
     "signature": {"alg": "Ed25519", "value": "..."}}

``files`` is the whole wheel set of the release (Health Hub's own wheel and every
dependency, built for the units' Python and architecture), each wheel travelling as content
blobs (:mod:`healthhub.protocol.content`: chunks of 192 KiB on ``content/blobs/{sha256}``),
so a wheel two releases share is stored once on the broker and fetched once by a unit.

The most specific scope wins: a unit follows its device manifest if there is one, else its
site's, else the fleet's (unlike content, wheel sets are never merged).

**What is refused** (:class:`SoftwareRejected`, with the reason a unit reports): a bad or
missing signature, another scope's manifest, a version that is not a release version
(``1.4.2``: digits and dots only, so versions compare as numbers), file names that are not
plain wheel names, a set without exactly one ``healthhub`` wheel of the manifest's version,
more than :data:`MAX_WHEELS` wheels, :data:`MAX_WHEEL_BYTES` per wheel or
:data:`MAX_TOTAL_BYTES` in all, a health deadline outside
:data:`MIN_DEADLINE_S`..:data:`MAX_DEADLINE_S`. **Downgrades** are refused by the unit and by
the updater unless the manifest itself says ``allow_downgrade: true`` (signed, so only the
fleet's key can ask for one: ``healthhub-fleet update --allow-downgrade``).

**Between the agent and the updater** (files in ``STATE_DIR/software``): the agent writes the
verified wheel set and the manifest into ``ready/{version}/`` and then ``request.json``
(``{"version", "manifest"}``, the manifest's sha256); the updater, run as root by
``healthhub-update.path`` when that file exists, writes ``result.json`` (:data:`RESULTS`)
and reads ``health.json``, which the agent writes only while it is the release on trial.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from healthhub.protocol import canonical, signed, topics
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.config_layers import LayerRejected, Scope, parse_scope
from healthhub.protocol.content import CHUNK_BYTES, chunk_count, hash_chunks
from healthhub.protocol.errors import MalformedMessage, ProtocolError

KIND: Final = "software"
MAX_MANIFEST_BYTES: Final = 256 * 1024
MAX_WHEELS: Final = 300
#: Kivy, the largest wheel of a release, is about 23 MB; numpy 17 MB.
MAX_WHEEL_BYTES: Final = 128 * 1024 * 1024
#: A whole release is about 90 MB (measured: 56 wheels for Python 3.11 on x86-64).
MAX_TOTAL_BYTES: Final = 512 * 1024 * 1024
MAX_NAME_CHARS: Final = 255
DEFAULT_DEADLINE_S: Final = 300
MIN_DEADLINE_S: Final = 10
MAX_DEADLINE_S: Final = 3600
PACKAGE: Final = "healthhub"

#: What a unit reports about the manifest it follows (``software/reported``).
DOWNLOADING: Final = "downloading"
READY: Final = "ready"
INSTALLING: Final = "installing"
HEALTHY: Final = "healthy"
ROLLED_BACK: Final = "rolled-back"
REJECTED: Final = "rejected"
STATES: Final = (DOWNLOADING, READY, INSTALLING, HEALTHY, ROLLED_BACK, REJECTED)
#: What the updater writes in ``result.json``: building, then switched and being checked,
#: then one of the three outcomes.
CHECKING: Final = "checking"
RESULTS: Final = (INSTALLING, CHECKING, HEALTHY, ROLLED_BACK, REJECTED)
FINAL_RESULTS: Final = (HEALTHY, ROLLED_BACK, REJECTED)

# Files under STATE_DIR (the contract between the agent and the privileged updater).
SOFTWARE_DIR: Final = "software"
READY_DIR: Final = "ready"
MANIFEST_FILE: Final = "manifest.json"
REQUEST_FILE: Final = "request.json"
RESULT_FILE: Final = "result.json"
HEALTH_FILE: Final = "health.json"
#: request.json, result.json and health.json are a few hundred bytes; a bigger one is refused.
MAX_SMALL_FILE_BYTES: Final = 64 * 1024

_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})(\.(0|[1-9][0-9]{0,5})){1,3}")
# PEP 427: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl; no "/", no
# leading dot, nothing a shell or pip's --find-links would read differently.
_WHEEL_NAME = re.compile(
    r"(?P<dist>[A-Za-z0-9](?:[A-Za-z0-9_.]*[A-Za-z0-9])?)-(?P<version>[A-Za-z0-9_.+]+)"
    r"(?:-[0-9][A-Za-z0-9_]*)?-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE_FIELDS = frozenset({"name", "sha256", "size", "chunks"})
_FIELDS = frozenset({"kind", "scope", "version", "issued_at", "allow_downgrade", "health", "files"})


class SoftwareRejected(ProtocolError):
    """A manifest, wheel set or request that must not be installed; ``str()`` is the reason
    to report."""


@dataclass(frozen=True)
class WheelFile:
    name: str
    sha256: str
    size: int
    chunks: tuple[str, ...]  # sha256 of each content blob, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "chunks": list(self.chunks),
        }


@dataclass(frozen=True)
class SoftwareManifest:
    scope: Scope
    version: str
    issued_at: str
    files: tuple[WheelFile, ...]  # sorted by name
    deadline_s: int = DEFAULT_DEADLINE_S
    allow_downgrade: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "scope": self.scope.to_json(),
            "version": self.version,
            "issued_at": self.issued_at,
            "allow_downgrade": self.allow_downgrade,
            "health": {"deadline_s": self.deadline_s},
            "files": [file.to_json() for file in self.files],
        }

    @property
    def total_bytes(self) -> int:
        return sum(file.size for file in self.files)


# -- versions and names --------------------------------------------------------------------


def parse_version(text: object) -> tuple[int, ...]:
    """``"1.4.2"`` as ``(1, 4, 2)``; anything but a release version is refused."""
    if not isinstance(text, str) or not _VERSION.fullmatch(text):
        raise SoftwareRejected(
            f"version {str(text)[:40]!r} is not a release version such as 1.4.2 "
            "(two to four whole numbers separated by dots)"
        )
    return tuple(int(part) for part in text.split("."))


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as ``left`` is older than, the same as or newer than ``right`` (1.4 and
    1.4.0 are the same release)."""
    a, b = parse_version(left), parse_version(right)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def check_wheel_name(name: object) -> str:
    """``name`` if it is a plain wheel file name (safe as a file name in one folder)."""
    if not isinstance(name, str) or not name:
        raise SoftwareRejected("a wheel name must be a non-empty string")
    if len(name) > MAX_NAME_CHARS or not _WHEEL_NAME.fullmatch(name):
        raise SoftwareRejected(
            f"{name[:80]!r} is not a wheel file name "
            "(DIST-VERSION-PYTHON-ABI-PLATFORM.whl: letters, digits, '.', '_', '+')"
        )
    return name


def wheel_distribution(name: str) -> tuple[str, str]:
    """The normalised distribution name and the version in a wheel's file name."""
    match = _WHEEL_NAME.fullmatch(check_wheel_name(name))
    assert match is not None
    return re.sub(r"[-_.]+", "-", match.group("dist")).lower(), match.group("version")


def _check_sha(value: object, what: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise SoftwareRejected(f"{what} must be a sha256 in 64 lower-case hex digits")
    return value


def check_wheel(file: WheelFile) -> WheelFile:
    name = check_wheel_name(file.name)
    _check_sha(file.sha256, f"sha256 of {name}")
    size = file.size
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise SoftwareRejected(f"size of {name} must be a whole number of bytes above 0")
    if size > MAX_WHEEL_BYTES:
        raise SoftwareRejected(f"{name} is {size} bytes; the limit is {MAX_WHEEL_BYTES}")
    if not isinstance(file.chunks, tuple) or len(file.chunks) != chunk_count(size):
        raise SoftwareRejected(
            f"{name} must have {chunk_count(size)} chunks of at most {CHUNK_BYTES} bytes"
        )
    for index, chunk in enumerate(file.chunks):
        _check_sha(chunk, f"chunk {index} of {name}")
    if len(file.chunks) == 1 and file.chunks[0] != file.sha256:
        raise SoftwareRejected(f"{name} is one chunk, so the chunk's sha256 must be the file's")
    return file


def check_wheels(version: str, files: Iterable[WheelFile]) -> tuple[WheelFile, ...]:
    """Every wheel checked, no name twice, the budget kept, exactly one Health Hub wheel of
    ``version``; sorted by name."""
    checked = sorted((check_wheel(file) for file in files), key=lambda file: file.name)
    if not checked:
        raise SoftwareRejected("a release needs at least its own wheel")
    if len(checked) > MAX_WHEELS:
        raise SoftwareRejected(f"{len(checked)} wheels; the limit is {MAX_WHEELS}")
    names = [file.name.lower() for file in checked]
    if len(set(names)) != len(names):
        raise SoftwareRejected("a wheel is named twice")
    total = sum(file.size for file in checked)
    if total > MAX_TOTAL_BYTES:
        raise SoftwareRejected(f"the wheels hold {total} bytes; the limit is {MAX_TOTAL_BYTES}")
    ours = [wheel_distribution(file.name) for file in checked]
    ours = [(dist, found) for dist, found in ours if dist == PACKAGE]
    if len(ours) != 1:
        raise SoftwareRejected(f"a release holds exactly one {PACKAGE} wheel, not {len(ours)}")
    if ours[0][1] != version:
        raise SoftwareRejected(f"the {PACKAGE} wheel is version {ours[0][1]}, not {version}")
    return tuple(checked)


# -- the document --------------------------------------------------------------------------


def make(
    scope: Scope,
    version: str,
    issued_at: str,
    files: Iterable[WheelFile],
    *,
    deadline_s: int = DEFAULT_DEADLINE_S,
    allow_downgrade: bool = False,
) -> SoftwareManifest:
    """A manifest to sign, checked as a unit and the updater will check it."""
    parse_version(version)
    try:
        parse_utc(issued_at, field="issued_at")
    except MalformedMessage as exc:
        raise SoftwareRejected(str(exc)) from None
    if isinstance(deadline_s, bool) or not isinstance(deadline_s, int):
        raise SoftwareRejected("health.deadline_s must be a whole number of seconds")
    if not MIN_DEADLINE_S <= deadline_s <= MAX_DEADLINE_S:
        raise SoftwareRejected(
            f"health.deadline_s must be {MIN_DEADLINE_S} to {MAX_DEADLINE_S} seconds"
        )
    if not isinstance(allow_downgrade, bool):
        raise SoftwareRejected("allow_downgrade must be true or false")
    return SoftwareManifest(
        scope, version, issued_at, check_wheels(version, files), deadline_s, allow_downgrade
    )


def encode(manifest: SoftwareManifest, signing_key_seed: bytes) -> bytes:
    """The retained payload: the signed manifest as canonical JSON."""
    payload = canonical.dumps(signed.sign(manifest.to_json(), signing_key_seed))
    if len(payload) > MAX_MANIFEST_BYTES:
        raise SoftwareRejected(
            f"manifest is {len(payload)} bytes; the limit is {MAX_MANIFEST_BYTES}"
        )
    return payload


def decode(payload: bytes, verify_key: bytes, *, expected: Scope | None) -> SoftwareManifest:
    """Check a manifest: size, JSON, signature, kind, fields, scope (``expected``; None: any
    scope, the caller checks it), version, deadline and wheels. Any failure is
    :class:`SoftwareRejected`, a forged signature included."""
    unsigned = signed.open_signed(
        payload,
        verify_key,
        kind=KIND,
        what="software manifest",
        max_bytes=MAX_MANIFEST_BYTES,
        error=SoftwareRejected,
    )
    unknown = sorted(set(unsigned) - _FIELDS)
    if unknown:
        raise SoftwareRejected(f"software manifest has unknown fields: {', '.join(unknown)}")
    try:
        scope = parse_scope(unsigned.get("scope"))
    except LayerRejected as exc:
        raise SoftwareRejected(str(exc)) from None
    if expected is not None and scope != expected:
        raise SoftwareRejected(f"manifest is for {scope}, but came on the topic of {expected}")
    issued_at = unsigned.get("issued_at")
    if not isinstance(issued_at, str):
        raise SoftwareRejected("issued_at must be an ISO 8601 string")
    version = unsigned.get("version")
    parse_version(version)
    assert isinstance(version, str)
    health = unsigned.get("health")
    if not isinstance(health, dict) or set(health) != {"deadline_s"}:
        raise SoftwareRejected("health must be {deadline_s: SECONDS}")
    files = unsigned.get("files")
    if not isinstance(files, list):
        raise SoftwareRejected("files must be a list")
    if len(files) > MAX_WHEELS:
        raise SoftwareRejected(f"{len(files)} wheels; the limit is {MAX_WHEELS}")
    return make(
        scope,
        version,
        issued_at,
        [_parse_file(entry) for entry in files],
        deadline_s=health["deadline_s"],
        allow_downgrade=unsigned.get("allow_downgrade", False),
    )


def _parse_file(value: object) -> WheelFile:
    if not isinstance(value, dict) or set(value) != _FILE_FIELDS:
        raise SoftwareRejected("each entry of files has exactly name, sha256, size and chunks")
    chunks = value["chunks"]
    if not isinstance(chunks, list):
        raise SoftwareRejected("chunks must be a list")
    return WheelFile(value["name"], value["sha256"], value["size"], tuple(chunks))


def digest(payload: bytes) -> str:
    """A manifest's identity: the sha256 of its signed payload. A push makes a new one (it
    has its own ``issued_at``), the broker sending it again does not."""
    return hashlib.sha256(payload).hexdigest()


def software_topic(scope: Scope) -> str:
    """The retained topic of ``scope``'s software manifest."""
    if scope.level == "fleet":
        return topics.FLEET_SOFTWARE
    assert scope.target is not None
    if scope.level == "site":
        return topics.site_software(scope.target)
    return topics.device_software(scope.target)


# -- a wheel folder ------------------------------------------------------------------------


def describe_wheel(source: Path) -> WheelFile:
    """The manifest entry of the wheel at ``source``, hashed as it is read."""
    name = check_wheel_name(source.name)
    sha, size, chunks = hash_chunks(
        source, name=name, limit=MAX_WHEEL_BYTES, refused=SoftwareRejected
    )
    return check_wheel(WheelFile(name, sha, size, chunks))


def scan_wheels(folder: Path) -> tuple[str, list[tuple[WheelFile, Path]]]:
    """The release version and every wheel in ``folder`` (``pip wheel -w DIR .``) as
    manifest entries with where to read them. Anything else in the folder (another file, a
    folder, a link) is refused by name: what is pushed is exactly what is in the folder."""
    if not folder.is_dir():
        raise SoftwareRejected(f"{folder} is not a folder")
    found: list[tuple[WheelFile, Path]] = []
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        path = Path(entry.path)
        if not stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
            raise SoftwareRejected(f"{path} is not a plain file: a wheel folder holds wheels")
        if not entry.name.endswith(".whl"):
            raise SoftwareRejected(f"{path} is not a wheel: a wheel folder holds wheels only")
        found.append((describe_wheel(path), path))
    versions = [
        version
        for file, _ in found
        for dist, version in [wheel_distribution(file.name)]
        if dist == PACKAGE
    ]
    if len(versions) != 1:
        raise SoftwareRejected(
            f"{folder} must hold exactly one {PACKAGE} wheel, not {len(versions)}: "
            "build the set with `pip wheel -w DIR .` in the source tree"
        )
    parse_version(versions[0])
    check_wheels(versions[0], [file for file, _ in found])
    return versions[0], found


# -- small JSON files between the agent and the updater -------------------------------------


def read_plain(path: Path, limit: int) -> bytes | None:
    """A plain file's bytes, read without following a link (it may be another user's);
    None if it is missing, not a plain file or over ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                return None
            data = handle.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def read_small_json(path: Path) -> dict[str, Any] | None:
    """A small JSON object from ``path`` (request, result, health); None if it is missing,
    too big, not a plain file or not a JSON object. It may be written by another user: it is
    read without following a link and never trusted beyond its checked fields."""
    data = read_plain(path, MAX_SMALL_FILE_BYTES)
    if data is None:
        return None
    try:
        value = canonical.loads(data.decode("utf-8"), what=path.name)
    except (UnicodeDecodeError, MalformedMessage):
        return None
    return value if isinstance(value, dict) else None
