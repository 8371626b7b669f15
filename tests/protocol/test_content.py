"""Content manifests: only a signed, well-formed manifest for this device's scope is used."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.protocol import canonical, content, signed
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import (
    CHUNK_BYTES,
    EMPTY_SHA256,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    ContentFile,
    ContentManifest,
    ContentRejected,
)
from healthhub.protocol.signed import generate_signing_key

SEED, VERIFY = generate_signing_key()
OTHER_SEED, OTHER_VERIFY = generate_signing_key()
AT = "2026-11-23T10:00:00Z"
FLEET = Scope("fleet")
SITE = Scope("site", "practice-a")
DEVICE = Scope("device", "kiosk-1")
BIG = random.Random(7).randbytes(500 * 1024)  # three chunks: 192 + 192 + 116 KiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(scope: Scope = SITE, version: int = 3) -> ContentManifest:
    return content.make(
        scope,
        version,
        AT,
        [
            content.describe("pages/blood-pressure.md", b"# Blood pressure\n"),
            content.describe("pictures/cuff.png", BIG),
            content.describe("empty.txt", b""),
        ],
    )


def signed_document(**fields: Any) -> bytes:
    document = {
        "kind": "content",
        "scope": {"site": "practice-a"},
        "version": 3,
        "issued_at": AT,
        "files": [content.describe("a.md", b"hello").to_json()],
        **fields,
    }
    return canonical.dumps(signed.sign(document, SEED))


def entry(path: str = "a.md", data: bytes = b"hello", **fields: Any) -> dict[str, Any]:
    return {**content.describe("x", data).to_json(), "path": path, **fields}


def test_a_manifest_round_trips_through_its_signed_payload() -> None:
    original = manifest()
    payload = content.encode(original, SEED)
    decoded = content.decode(payload, VERIFY, expected=SITE)
    assert decoded == original
    assert [file.path for file in decoded.files] == [
        "empty.txt",
        "pages/blood-pressure.md",
        "pictures/cuff.png",
    ]
    assert canonical.loads(payload)["kind"] == "content"
    assert decoded.to_json()["files"][2]["size"] == len(BIG)


def test_files_are_cut_into_chunks_of_192_kib_and_an_empty_file_has_one() -> None:
    pieces = content.chunk(BIG)
    assert [len(piece) for _, piece in pieces] == [
        CHUNK_BYTES,
        CHUNK_BYTES,
        500 * 1024 - 2 * CHUNK_BYTES,
    ]
    assert b"".join(piece for _, piece in pieces) == BIG
    assert all(sha(piece) == digest for digest, piece in pieces)
    big = content.describe("cuff.png", BIG)
    assert big.chunks == tuple(digest for digest, _ in pieces)
    assert big.sha256 == sha(BIG)
    small = content.describe("a.md", b"hello")
    assert small.chunks == (sha(b"hello"),)
    assert content.describe("empty.txt", b"") == ContentFile(
        "empty.txt", EMPTY_SHA256, 0, (EMPTY_SHA256,)
    )
    exact = content.describe("exact.bin", bytes(CHUNK_BYTES))
    assert len(exact.chunks) == 1
    assert len(content.describe("over.bin", bytes(CHUNK_BYTES + 1)).chunks) == 2


def test_reading_a_file_gives_the_same_chunks_as_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "cuff.png").write_bytes(BIG)
    (tmp_path / "empty.txt").write_bytes(b"")
    assert list(content.iter_chunks(tmp_path / "cuff.png")) == content.chunk(BIG)
    assert list(content.iter_chunks(tmp_path / "empty.txt")) == [(EMPTY_SHA256, b"")]
    assert content.describe_file("p/cuff.png", tmp_path / "cuff.png") == content.describe(
        "p/cuff.png", BIG
    )


REFUSED = [
    ("forged", content.encode(manifest(), OTHER_SEED), "does not verify"),
    (
        "tampered after signing",
        canonical.dumps({**canonical.loads(content.encode(manifest(), SEED)), "version": 4}),
        "does not verify",
    ),
    ("unsigned", canonical.dumps(manifest().to_json()), "no Ed25519 signature"),
    ("wrong kind", signed_document(kind="config"), "kind"),
    ("another site's", content.encode(manifest(Scope("site", "practice-b")), SEED), "topic of"),
    ("a fleet manifest", content.encode(manifest(FLEET), SEED), "topic of"),
    ("bad scope", signed_document(scope={"site": "Practice A"}), "site id"),
    ("version 0", signed_document(version=0), "version"),
    ("version true", signed_document(version=True), "version"),
    ("no version", signed_document(version=None), "version"),
    ("bad time", signed_document(issued_at="yesterday"), "issued_at"),
    ("files not a list", signed_document(files={"a.md": "x"}), "files must be a list"),
    ("not JSON", b"\xff{", "not JSON"),
    ("NaN", b'{"version": NaN}', "not JSON"),
    ("UTF-16", "{}".encode("utf-16"), "not JSON"),
    ("too big", b" " * (MAX_MANIFEST_BYTES + 1), "limit"),
]


@pytest.mark.parametrize(("name", "payload", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_forged_misdirected_or_malformed_manifest_is_refused(
    name: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(ContentRejected, match=reason):
        content.decode(payload, VERIFY, expected=SITE)


def test_a_manifest_checked_with_another_fleets_key_is_refused() -> None:
    with pytest.raises(ContentRejected, match="does not verify"):
        content.decode(content.encode(manifest(), SEED), OTHER_VERIFY, expected=SITE)


def test_a_device_manifest_replayed_on_another_devices_topic_is_refused() -> None:
    payload = content.encode(manifest(DEVICE), SEED)
    assert content.decode(payload, VERIFY, expected=DEVICE).scope == DEVICE
    with pytest.raises(ContentRejected, match="for device kiosk-1, but came on the topic of"):
        content.decode(payload, VERIFY, expected=Scope("device", "kiosk-2"))


BAD_PATHS = [
    ("../x", "dot"),
    ("pages/../../etc/passwd", "dot"),
    ("/etc/passwd", "absolute"),
    ("a\\b", "backslash"),
    (".hidden", "dot"),
    ("pages/.DS_Store", "dot"),
    ("a//b", "empty component"),
    ("a/", "empty component"),
    ("./a", "dot"),
    ("", "non-empty"),
    ("-rf", "starting with a letter or digit"),
    ("blood pressure.md", "component"),
    ("naïve.md", "component"),
    ("a:b", "component"),
    ("x" * 101, "component"),
    ("/".join(["d"] * 9), "limit is 8"),
    ("/".join(["a" * 99] * 3), "limit is 255"),
]


@pytest.mark.parametrize(("path", "reason"), BAD_PATHS, ids=[p for p, _ in BAD_PATHS])
def test_a_path_outside_the_rules_is_refused_on_make_and_on_decode(path: str, reason: str) -> None:
    with pytest.raises(ContentRejected, match=reason):
        content.check_path(path)
    with pytest.raises(ContentRejected, match=reason):
        content.make(SITE, 1, AT, [ContentFile(path, sha(b"x"), 1, (sha(b"x"),))])
    with pytest.raises(ContentRejected, match=reason):
        content.decode(signed_document(files=[entry(path)]), VERIFY, expected=SITE)


def test_paths_at_the_limits_are_allowed() -> None:
    for path in ["a", "/".join(["d"] * 8), "x" * 100, "/".join(["a" * 99, "b" * 99, "c" * 55])]:
        assert content.check_path(path) == path
    assert content.check_path("Leaflet_v2.1-final.PDF") == "Leaflet_v2.1-final.PDF"


BAD_FILE_LISTS = [
    ("duplicate path", [entry("a.md"), entry("a.md", b"other")], "named twice"),
    ("file and folder", [entry("help"), entry("help/a.md")], "a file and also the folder"),
    (
        "deep file and folder",
        [entry("help/x"), entry("help/x/y/z.md")],
        "help/x is a file and also the folder of help/x/y/z.md",
    ),
    ("too few chunks", [entry("big", BIG, chunks=[sha(BIG)])], "has 1 chunks"),
    ("too many chunks", [entry("a.md", chunks=[sha(b"hello")] * 2)], "has 2 chunks"),
    ("no chunks", [entry("a.md", chunks=[])], "no chunks"),
    ("chunks not a list", [entry("a.md", chunks=sha(b"hello"))], "must be a list"),
    ("one chunk, other hash", [entry("a.md", chunks=[sha(b"x")])], "chunk's sha256"),
    ("upper-case hash", [entry("a.md", sha256=sha(b"hello").upper())], "lower-case hex"),
    ("short chunk hash", [entry("a.md", chunks=["ab"])], "chunk 0 of a.md"),
    ("negative size", [entry("a.md", size=-1)], "whole number"),
    ("size true", [entry("a.md", size=True)], "whole number"),
    ("size as text", [entry("a.md", size="5")], "whole number"),
    ("over 64 MiB", [entry("a.md", size=64 * 1024 * 1024 + 1)], "the limit is"),
    ("unknown field", [entry("a.md", mode="0755")], "unknown: mode"),
    ("missing field", [{"path": "a.md", "sha256": sha(b"x"), "size": 1}], "missing: chunks"),
    ("not a mapping", ["a.md"], "mapping"),
]


@pytest.mark.parametrize(
    ("name", "files", "reason"), BAD_FILE_LISTS, ids=[r[0] for r in BAD_FILE_LISTS]
)
def test_a_file_list_that_is_inconsistent_is_refused_whole(
    name: str, files: list[Any], reason: str
) -> None:
    with pytest.raises(ContentRejected, match=reason):
        content.decode(signed_document(files=files), VERIFY, expected=SITE)


def test_the_console_cannot_even_make_a_manifest_a_device_would_refuse() -> None:
    hello = content.describe("a.md", b"hello")
    with pytest.raises(ContentRejected, match="named twice"):
        content.make(SITE, 1, AT, [hello, hello])
    with pytest.raises(ContentRejected, match="folder"):
        content.make(SITE, 1, AT, [hello, content.describe("a.md/b", b"x")])
    with pytest.raises(ContentRejected, match="version"):
        content.make(SITE, 0, AT, [hello])
    with pytest.raises(ContentRejected, match="issued_at"):
        content.make(SITE, 1, "soon", [hello])
    with pytest.raises(ContentRejected, match=f"the limit is {MAX_FILES}"):
        content.make(SITE, 1, AT, [content.describe(f"f{n}", b"") for n in range(MAX_FILES + 1)])


def test_a_manifest_over_the_size_limit_cannot_be_encoded() -> None:
    files = [content.describe(f"pages/page-{n:04}.md", b"x") for n in range(2000)]
    with pytest.raises(ContentRejected, match=f"the limit is {MAX_MANIFEST_BYTES}"):
        content.encode(content.make(SITE, 1, AT, files), SEED)


def test_the_effective_content_is_the_union_with_the_device_winning_per_path() -> None:
    def level(scope: Scope, files: dict[str, bytes]) -> ContentManifest:
        return content.make(scope, 1, AT, [content.describe(p, d) for p, d in files.items()])

    manifests = {
        "fleet": level(FLEET, {"a.md": b"fleet a", "shared.md": b"fleet", "help": b"file"}),
        "site": level(SITE, {"shared.md": b"site", "s.md": b"site s", "x/old.md": b"o"}),
        "device": level(DEVICE, {"shared.md": b"device", "help/a.md": b"d", "x": b"file"}),
    }
    merged = content.effective(manifests)
    assert {path: (file.sha256, scope) for path, (file, scope) in merged.items()} == {
        "a.md": (sha(b"fleet a"), FLEET),
        "help/a.md": (sha(b"d"), DEVICE),  # the device's folder displaces the fleet's file
        "s.md": (sha(b"site s"), SITE),
        "shared.md": (sha(b"device"), DEVICE),
        "x": (sha(b"file"), DEVICE),  # the device's file displaces the site's folder
    }
    assert list(merged) == sorted(merged)
    digest = content.files_digest(merged)
    assert digest == content.files_digest(dict(reversed(merged.items())))
    assert digest != content.files_digest(content.effective({"fleet": manifests["fleet"]}))
    assert content.effective({}) == {}
    twice = content.effective({"fleet": level(FLEET, {"a": b"same", "b": b"same", "c": b"!"})})
    assert content.needed_bytes(twice) == 5  # one blob for a and b


def test_a_folder_is_scanned_into_sorted_entries(tmp_path: Path) -> None:
    folder = tmp_path / "content"
    (folder / "pages").mkdir(parents=True)
    (folder / "pictures" / "empty-folder").mkdir(parents=True)
    (folder / "pages" / "blood-pressure.md").write_bytes(b"# BP")
    (folder / "pictures" / "cuff.png").write_bytes(BIG)
    (folder / "index.md").write_bytes(b"")
    scanned = content.scan_folder(folder)
    assert [(file.path, source) for file, source in scanned] == [
        ("index.md", folder / "index.md"),
        ("pages/blood-pressure.md", folder / "pages" / "blood-pressure.md"),
        ("pictures/cuff.png", folder / "pictures" / "cuff.png"),
    ]
    assert scanned[2][0] == content.describe("pictures/cuff.png", BIG)
    assert scanned[0][0].chunks == (EMPTY_SHA256,)


@pytest.mark.parametrize(
    ("make_bad", "reason"),
    [
        (lambda f: (f / ".DS_Store").write_bytes(b"x"), r"\.DS_Store is hidden"),
        (lambda f: (f / ".git").mkdir(), r"\.git is hidden"),
        (lambda f: (f / "link.md").symlink_to(f / "ok.md"), "link.md is a symbolic link"),
        (lambda f: (f / "linked").symlink_to(f.parent), "linked is a symbolic link"),
        (lambda f: (f / "blood pressure.md").write_bytes(b"x"), "blood pressure.md"),
        (lambda f: os.mkfifo(f / "pipe"), "pipe is not a plain file"),
        (
            lambda f: (
                (f / "/".join("abcdefgh")).mkdir(parents=True)
                or (f / "/".join("abcdefgh") / "deep.md").write_bytes(b"x")
            ),
            "nested over 8 folders deep",
        ),
    ],
    ids=["hidden file", "hidden folder", "symlink", "symlinked folder", "bad name", "fifo", "deep"],
)
def test_a_folder_with_anything_that_cannot_be_pushed_is_refused_naming_it(
    tmp_path: Path, make_bad: Any, reason: str
) -> None:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "ok.md").write_bytes(b"fine")
    make_bad(folder)
    with pytest.raises(ContentRejected, match=reason):
        content.scan_folder(folder)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContentRejected, match="is not a folder"):
        content.scan_folder(tmp_path / "nowhere")


GOOD = content.encode(manifest(), SEED)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_only_raise_content_rejected(data: bytes) -> None:
    with pytest.raises(ContentRejected):
        content.decode(data, VERIFY, expected=SITE)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD)), st.binary(max_size=8))
def test_fuzz_truncated_and_spliced_manifests(cut: int, junk: bytes) -> None:
    spliced = GOOD[:cut] + junk + GOOD[cut + len(junk) :]
    if spliced == GOOD:
        return
    try:
        decoded = content.decode(spliced, VERIFY, expected=SITE)
    except ContentRejected:
        return
    # JSON whitespace is not signed; anything else that verifies is the signed manifest.
    assert decoded == manifest()
