"""Content on a device: only complete, verified content is served, and a power cut, a full
card or a bad blob never leaves anything but the old set or the new one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from healthhub.agent import content_store
from healthhub.agent.content_store import MANIFESTS_FILE, ContentReport, ContentStore
from healthhub.protocol import content
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import CHUNK_BYTES, EMPTY_SHA256
from healthhub.protocol.signed import generate_signing_key

SEED, VERIFY = generate_signing_key()
AT = "2026-11-23T10:00:00Z"
FLEET = Scope("fleet")
SITE = Scope("site", "practice-a")
DEVICE = Scope("device", "kiosk-1")
BUDGET = 4 * 1024 * 1024

RNG = random.Random(2026)
BIG = RNG.randbytes(500 * 1024)  # three chunks
OTHER_BIG = RNG.randbytes(300 * 1024)  # two chunks

OLD = {"pages/blood-pressure.md": b"# Blood pressure\nOld text.\n", "pictures/cuff.png": BIG}
NEW = {
    "pages/blood-pressure.md": b"# Blood pressure\nNew text.\n",
    "pages/weight.md": b"# Weight\n",
    "audio/welcome-ur.ogg": OTHER_BIG,
    "empty.txt": b"",
}

Files = Mapping[str, bytes]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(scope: Scope, version: int, files: Files) -> bytes:
    described = [content.describe(path, data) for path, data in files.items()]
    return content.encode(content.make(scope, version, AT, described), SEED)


def blobs(*sets: Files) -> dict[str, bytes]:
    """Every chunk the console would publish for ``sets``, by hash."""
    return {
        digest: piece
        for files in sets
        for data in files.values()
        for digest, piece in content.chunk(data)
    }


def make_store(root: Path, budget: int = BUDGET) -> ContentStore:
    return ContentStore(root, VERIFY, device="kiosk-1", site="practice-a", budget_bytes=budget)


def fetch(
    store: ContentStore, published: Mapping[str, bytes], *, seed: int | None = None
) -> list[ContentReport]:
    """Play the broker: send every wanted blob (in a shuffled order if ``seed``)."""
    reports: list[ContentReport] = []
    order = random.Random(seed)
    for _ in range(100):
        wanted = store.wanted()
        if not wanted:
            break
        if seed is not None:
            order.shuffle(wanted)
        for digest in wanted:
            reports += store.receive(digest, published[digest])
    return reports


def served(store: ContentStore) -> dict[str, bytes]:
    """What the UI reads: every file under ``current``, with its bytes."""
    root = store.current_dir
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state" / "content"


@pytest.fixture
def applied_old(root: Path) -> ContentStore:
    """A store serving OLD at the fleet level, version 1."""
    store = make_store(root)
    store.offer("fleet", manifest(FLEET, 1, OLD))
    fetch(store, blobs(OLD))
    assert served(store) == OLD
    return store


def test_a_new_store_serves_an_empty_folder(root: Path) -> None:
    store = make_store(root)
    assert store.current_dir.is_symlink()
    assert served(store) == {}
    assert store.wanted() == []
    assert store.reported()["layers"]["fleet"]["state"] == "none"


def test_content_applies_from_chunks_arriving_in_any_order(root: Path) -> None:
    store = make_store(root)
    files = {**OLD, **NEW}
    report = store.offer("site", manifest(SITE, 1, files))
    assert report is not None
    assert report.state == "pending"
    # cuff.png 3 chunks, welcome-ur.ogg 2, the two pages 1 each; the empty file is never fetched
    assert report.missing == 3 + 2 + 1 + 1
    published = blobs(files)
    wanted = store.wanted()
    assert EMPTY_SHA256 not in wanted
    assert len(wanted) == len(set(wanted)) == report.missing
    random.Random(5).shuffle(wanted)
    for digest in wanted[:-1]:
        assert store.receive(digest, published[digest]) == []
        assert served(store) == {}  # nothing shows until the whole set is there
    [applied] = store.receive(wanted[-1], published[wanted[-1]])
    assert applied.state == "applied"
    assert applied.version == 1
    assert applied.held == 1
    assert served(store) == files
    assert store.wanted() == []
    mode = (store.current_dir / "pictures" / "cuff.png").stat().st_mode
    assert stat.S_IMODE(mode) == 0o444
    assert os.listdir(root / "chunks") == []  # joined into whole files, then deleted
    reported = store.reported()
    assert reported["layers"]["site"] == {
        "state": "applied",
        "version": 1,
        "held": 1,
        "reason": "",
        "at": applied.at,
        "missing": 0,
    }
    assert reported["current"]["files"] == len(files) == 5
    assert reported["current"]["bytes"] == sum(len(data) for data in files.values())
    assert reported["pending"] is None
    assert reported["limits"]["chunk_bytes"] == CHUNK_BYTES
    assert reported["limits"]["budget_bytes"] == BUDGET
    assert reported["disk"]["budget"] == BUDGET


def test_a_folder_scanned_by_the_console_arrives_byte_for_byte(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "push"
    for path, data in {**OLD, **NEW}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    scanned = content.scan_folder(folder)
    payload = content.encode(content.make(SITE, 1, AT, [f for f, _ in scanned]), SEED)
    published = {
        digest: piece for _, source in scanned for digest, piece in content.iter_chunks(source)
    }
    store = make_store(root)
    store.offer("site", payload)
    fetch(store, published, seed=3)
    assert served(store) == {**OLD, **NEW}


def test_a_multi_chunk_file_is_joined_only_when_every_chunk_is_there(root: Path) -> None:
    store = make_store(root)
    store.offer("fleet", manifest(FLEET, 1, {"cuff.png": BIG}))
    chunks = content.chunk(BIG)
    assert store.wanted() == [digest for digest, _ in chunks]
    for digest, piece in reversed(chunks[1:]):
        assert store.receive(digest, piece) == []
    assert store.wanted() == [chunks[0][0]]
    assert store.receive("f" * 64, b"nobody asked") == []
    reports = store.receive(*chunks[0])
    assert [r.state for r in reports] == ["applied"]
    assert (store.current_dir / "cuff.png").read_bytes() == BIG


def test_fleet_site_and_device_are_united_with_the_device_winning_per_path(root: Path) -> None:
    store = make_store(root)
    fleet = {"shared.md": b"fleet", "fleet.md": b"for every practice"}
    site = {"shared.md": b"site", "site.md": b"practice a"}
    device = {"shared.md": b"device", "device.md": b"this kiosk"}
    store.offer("fleet", manifest(FLEET, 4, fleet))
    store.offer("site", manifest(SITE, 2, site))
    store.offer("device", manifest(DEVICE, 1, device))
    reports = fetch(store, blobs(fleet, site, device), seed=1)
    assert sorted((r.level, r.state) for r in reports) == [
        ("device", "applied"),
        ("fleet", "applied"),
        ("site", "applied"),
    ]
    assert served(store) == {
        "shared.md": b"device",
        "fleet.md": b"for every practice",
        "site.md": b"practice a",
        "device.md": b"this kiosk",
    }
    layers = store.reported()["layers"]
    assert {level: layers[level]["held"] for level in layers} == {
        "fleet": 4,
        "site": 2,
        "device": 1,
    }
    # the shadowed fleet and site versions of shared.md were never fetched
    assert sha(b"fleet") not in os.listdir(root / "blobs")


def test_a_retained_manifest_sent_again_changes_nothing(applied_old: ContentStore) -> None:
    assert applied_old.offer("fleet", manifest(FLEET, 1, OLD)) is None
    newer = manifest(FLEET, 2, NEW)
    assert applied_old.offer("fleet", newer) is not None
    assert applied_old.offer("fleet", newer) is None  # again while it is still pending
    assert applied_old.offer("site", b"") is None  # nothing to withdraw


def test_an_older_or_equal_version_is_rejected(applied_old: ContentStore) -> None:
    applied_old.offer("fleet", manifest(FLEET, 3, OLD))
    for version in (2, 3):
        report = applied_old.offer("fleet", manifest(FLEET, version, NEW))
        assert report is not None
        assert report.state == "rejected"
        assert report.reason == f"version {version} is not newer than 3"
        assert report.held == 3
    assert served(applied_old) == OLD


def test_a_forged_manifest_is_rejected_and_nothing_changes(applied_old: ContentStore) -> None:
    other_seed, _ = generate_signing_key()
    forged = content.encode(
        content.make(FLEET, 9, AT, [content.describe("a.md", b"x")]), other_seed
    )
    report = applied_old.offer("fleet", forged)
    assert report is not None
    assert report.state == "rejected"
    assert "does not verify" in report.reason
    assert applied_old.wanted() == []
    report = applied_old.offer("device", manifest(Scope("device", "kiosk-2"), 1, NEW))
    assert report is not None
    assert "came on the topic of device kiosk-1" in report.reason
    assert served(applied_old) == OLD


def test_a_corrupt_blob_is_rejected_and_the_old_content_still_served(
    applied_old: ContentStore, root: Path
) -> None:
    payload = manifest(FLEET, 2, NEW)
    applied_old.offer("fleet", payload)
    published = blobs(NEW)
    first, *rest = applied_old.wanted()
    for digest in rest:
        assert applied_old.receive(digest, published[digest]) == []
    [report] = applied_old.receive(first, published[first][:-1] + b"!")
    assert report.state == "rejected"
    assert report.reason == f"blob {first} does not match its hash"
    assert report.version == 2
    assert report.held == 1
    assert served(applied_old) == OLD
    assert applied_old.wanted() == []
    assert os.listdir(root / "chunks") == []
    assert applied_old.offer("fleet", payload) is None  # refused for good: same bytes again
    assert applied_old.reported()["layers"]["fleet"]["state"] == "rejected"


def test_chunks_that_do_not_make_the_file_named_are_rejected(applied_old: ContentStore) -> None:
    liar = content.describe("audio/welcome.ogg", OTHER_BIG)
    swapped = content.ContentFile(
        liar.path, liar.sha256, liar.size, tuple(d for d, _ in content.chunk(OTHER_BIG[::-1]))
    )
    payload = content.encode(content.make(FLEET, 2, AT, [swapped]), SEED)
    applied_old.offer("fleet", payload)
    reports = fetch(applied_old, blobs({"x": OTHER_BIG[::-1]}))
    assert [(r.state, r.reason) for r in reports] == [
        ("rejected", "file audio/welcome.ogg does not match its sha256 and size")
    ]
    assert served(applied_old) == OLD


def test_a_bad_blob_rejects_only_the_level_that_needs_it(applied_old: ContentStore) -> None:
    site = {"site.md": b"practice a"}
    device = {"device.md": b"this kiosk"}
    applied_old.offer("site", manifest(SITE, 1, site))
    applied_old.offer("device", manifest(DEVICE, 1, device))
    reports = applied_old.receive(sha(b"this kiosk"), b"tampered")
    assert [(r.level, r.state) for r in reports] == [("device", "rejected")]
    assert applied_old.reported()["layers"]["site"]["state"] == "pending"
    [applied] = fetch(applied_old, blobs(site))
    assert (applied.level, applied.state) == ("site", "applied")
    assert served(applied_old) == {**OLD, **site}


def test_a_stored_chunk_damaged_on_the_card_is_fetched_again(root: Path) -> None:
    store = make_store(root)
    store.offer("fleet", manifest(FLEET, 1, {"cuff.png": BIG}))
    (first, piece), *rest = content.chunk(BIG)
    store.receive(first, piece)
    damaged = root / "chunks" / first
    damaged.chmod(0o644)
    damaged.write_bytes(b"bit rot")
    for digest, data in rest:
        assert store.receive(digest, data) == []
    assert store.wanted() == [first]  # deleted and wanted again, not blamed on the console
    [report] = store.receive(first, piece)
    assert report.state == "applied"
    assert served(store) == {"cuff.png": BIG}


def test_content_over_the_budget_is_rejected_before_anything_is_fetched(root: Path) -> None:
    store = make_store(root, budget=600 * 1024)
    store.offer("fleet", manifest(FLEET, 1, {"small.md": b"fits"}))
    fetch(store, blobs({"small.md": b"fits"}))
    payload = manifest(SITE, 1, {"cuff.png": BIG, "audio.ogg": OTHER_BIG})
    report = store.offer("site", payload)
    assert report is not None
    assert report.state == "rejected"
    needs = 4 + len(BIG) + len(OTHER_BIG)
    assert report.reason == f"needs {needs} bytes; the content budget is {600 * 1024}"
    assert store.wanted() == []
    assert served(store) == {"small.md": b"fits"}
    assert store.offer("site", payload) is None
    assert store.reported()["disk"]["budget"] == 600 * 1024


def test_a_withdrawn_layer_gives_way_to_the_one_below(root: Path) -> None:
    store = make_store(root)
    fleet = {"help.md": b"fleet help", "fleet.md": b"fleet only"}
    device = {"help.md": b"device help", "device.md": b"device only"}
    store.offer("fleet", manifest(FLEET, 1, fleet))
    store.offer("device", manifest(DEVICE, 1, device))
    fetch(store, blobs(fleet, device))
    assert served(store)["help.md"] == b"device help"
    report = store.offer("device", b"")  # the console cleared the retained topic
    assert report is not None
    assert report.state == "pending"  # the fleet's help.md was never fetched: it was hidden
    assert store.wanted() == [sha(b"fleet help")]
    assert served(store)["help.md"] == b"device help"
    [applied] = fetch(store, blobs(fleet))
    assert (applied.level, applied.state, applied.reason) == (
        "device",
        "applied",
        "layer withdrawn",
    )
    assert applied.held is None
    assert served(store) == fleet
    assert store.offer("device", b"") is None
    assert store.reported()["layers"]["device"]["held"] is None


def test_withdrawing_everything_applies_at_once(applied_old: ContentStore) -> None:
    report = applied_old.offer("fleet", b"")
    assert report is not None
    assert report.state == "applied"
    assert served(applied_old) == {}
    assert applied_old.usage()["bytes"] == 0


def test_old_sets_blobs_and_chunks_are_cleaned_up(applied_old: ContentStore, root: Path) -> None:
    before = applied_old.usage()
    assert before["bytes"] == sum(len(data) for data in OLD.values())
    applied_old.offer("fleet", manifest(FLEET, 2, {"pages/blood-pressure.md": b"short"}))
    [report] = fetch(applied_old, blobs({"x": b"short"}))
    assert report.state == "applied"
    assert served(applied_old) == {"pages/blood-pressure.md": b"short"}
    assert os.listdir(root / "blobs") == [sha(b"short")]
    assert len(os.listdir(root / "sets")) == 1
    assert os.listdir(root / "chunks") == []
    after = applied_old.usage()
    assert after == {"bytes": 5, "budget": BUDGET, "blobs": 1, "chunks": 0}
    assert after["bytes"] < before["bytes"]


def test_a_newer_version_replaces_a_pending_one(applied_old: ContentStore) -> None:
    applied_old.offer("fleet", manifest(FLEET, 2, {"v2.md": b"two", "audio.ogg": OTHER_BIG}))
    assert applied_old.receive(sha(b"two"), b"two") == []
    report = applied_old.offer("fleet", manifest(FLEET, 3, {"v3.md": b"three", "big": BIG}))
    assert report is not None
    assert (report.state, report.version, report.held) == ("pending", 3, 1)
    assert applied_old.wanted() == [sha(b"three")]  # BIG is held already
    [applied] = applied_old.receive(sha(b"three"), b"three")
    assert (applied.state, applied.version) == ("applied", 3)
    assert served(applied_old) == {"v3.md": b"three", "big": BIG}


def test_give_up_rejects_the_pending_target_and_a_later_offer_tries_again(
    applied_old: ContentStore,
) -> None:
    payload = manifest(FLEET, 2, NEW)
    applied_old.offer("fleet", payload)
    [report] = applied_old.give_up("blobs did not arrive within 600 s")
    assert (report.state, report.reason, report.held) == (
        "rejected",
        "blobs did not arrive within 600 s",
        1,
    )
    assert applied_old.wanted() == []
    assert served(applied_old) == OLD
    assert applied_old.give_up("again") == []
    again = applied_old.offer("fleet", payload)  # the broker re-sent it on reconnect
    assert again is not None
    assert again.state == "pending"
    fetch(applied_old, blobs(NEW))
    assert served(applied_old) == NEW


def test_a_restarted_store_keeps_serving_and_knows_what_it_holds(
    applied_old: ContentStore, root: Path
) -> None:
    again = make_store(root)
    assert served(again) == OLD
    assert again.wanted() == []
    assert again.reported()["layers"]["fleet"]["held"] == 1
    assert again.reported()["current"] == applied_old.reported()["current"]
    assert again.offer("fleet", manifest(FLEET, 1, OLD)) is None


def test_leftovers_of_an_interrupted_run_are_removed(applied_old: ContentStore, root: Path) -> None:
    (root / ".current.999.tmp").symlink_to("sets/nowhere")
    (root / "chunks" / f".{'a' * 64}.x.tmp").write_bytes(b"half a chunk")
    (root / "blobs" / "not-a-hash").write_bytes(b"?")
    (root / "sets" / f".{'b' * 64}.tmp").mkdir()
    (root / "sets" / ("c" * 64)).mkdir()
    again = make_store(root)
    assert served(again) == OLD
    assert sorted(p.name for p in root.iterdir()) == [
        "blobs",
        "chunks",
        "current",
        MANIFESTS_FILE,
        "sets",
    ]
    assert os.listdir(root / "chunks") == []
    assert len(os.listdir(root / "sets")) == 1
    assert sorted(os.listdir(root / "blobs")) == sorted(sha(data) for data in OLD.values())


def test_a_half_built_set_of_the_same_name_is_rebuilt_from_scratch(
    applied_old: ContentStore, root: Path
) -> None:
    new = {"a.md": b"a"}
    target = content.effective(
        {"fleet": content.make(FLEET, 2, AT, [content.describe("a.md", b"a")])}
    )
    stale = root / "sets" / content.files_digest(target)
    stale.mkdir()
    (stale / "junk.md").write_bytes(b"from a run that was cut")
    applied_old.offer("fleet", manifest(FLEET, 2, new))
    fetch(applied_old, blobs(new))
    assert served(applied_old) == new


def test_a_set_file_lost_on_the_card_is_relinked_at_start(
    applied_old: ContentStore, root: Path
) -> None:
    (applied_old.current_dir / "pages" / "blood-pressure.md").unlink()
    restarted = make_store(root)
    assert restarted.wanted() == []  # its blob is still here
    assert served(restarted) == OLD


def test_a_file_damaged_on_the_card_is_fetched_again_at_start(
    applied_old: ContentStore, root: Path
) -> None:
    damaged = applied_old.current_dir / "pictures" / "cuff.png"
    damaged.chmod(0o644)
    with damaged.open("r+b") as handle:  # the blob too: a set's files are its hard links
        handle.truncate(1000)
    restarted = make_store(root)
    assert restarted.wanted() == [digest for digest, _ in content.chunk(BIG)]
    assert restarted.reported()["layers"]["fleet"]["state"] == "pending"
    [report] = fetch(restarted, blobs(OLD))
    assert (report.state, report.held) == ("applied", 1)
    assert served(restarted) == OLD


class PowerCut(BaseException):
    """The power goes: nothing after this point runs (not an error the store may handle)."""


def cut_linking(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.link
    calls = []

    def link(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise PowerCut
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", link)


def cut_after_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
        raise PowerCut

    monkeypatch.setattr(content_store, "write_atomic", write_atomic)


def cut_before_clean_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def rmtree(path: object, *args: object, **kwargs: object) -> None:
        raise PowerCut

    monkeypatch.setattr(shutil, "rmtree", rmtree)  # the set replaced is deleted last


@pytest.mark.parametrize(
    "cut", [cut_linking, cut_after_switch, cut_before_clean_up], ids=lambda f: f.__name__
)
def test_a_power_cut_while_applying_leaves_the_old_or_the_new_content_whole(
    root: Path, monkeypatch: pytest.MonkeyPatch, cut: object
) -> None:
    store = make_store(root)
    store.offer("fleet", manifest(FLEET, 1, OLD))
    fetch(store, blobs(OLD))
    payload = manifest(FLEET, 2, NEW)
    store.offer("fleet", payload)
    *early, last = store.wanted()
    published = blobs(NEW)
    for digest in early:
        store.receive(digest, published[digest])
    with monkeypatch.context() as patch:
        cut(patch)  # type: ignore[operator]
        with pytest.raises(PowerCut):
            store.receive(last, published[last])

    after = make_store(root)
    assert served(after) in (OLD, NEW)
    held = after.reported()["layers"]["fleet"]["held"]
    assert held == (1 if served(after) == OLD else 2)
    # The broker sends the retained manifest again: it applies from the blobs on disk.
    report = after.offer("fleet", payload)
    assert after.wanted() == []
    assert report is None or report.state == "applied"
    assert served(after) == NEW
    assert len(os.listdir(root / "sets")) == 1


def test_a_full_disk_rejects_the_new_content_and_keeps_the_old(
    applied_old: ContentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = manifest(FLEET, 2, NEW)
    applied_old.offer("fleet", payload)
    first = applied_old.wanted()[0]

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        [report] = applied_old.receive(first, blobs(NEW)[first])
    assert (report.state, report.reason, report.held) == ("rejected", "disk full", 1)
    assert served(applied_old) == OLD
    assert applied_old.wanted() == []
    again = applied_old.offer("fleet", payload)  # space was freed; the broker sends it again
    assert again is not None
    assert again.state == "pending"
    fetch(applied_old, blobs(NEW))
    assert served(applied_old) == NEW


def test_a_full_disk_while_keeping_the_manifests_switches_back(
    applied_old: ContentStore, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    applied_old.offer("fleet", manifest(FLEET, 2, NEW))
    with monkeypatch.context() as patch:
        patch.setattr(content_store, "write_atomic", write_atomic)
        reports = fetch(applied_old, blobs(NEW))
    assert [(r.state, r.reason) for r in reports] == [("rejected", "disk full")]
    assert served(applied_old) == OLD
    assert served(make_store(root)) == OLD


def test_a_damaged_manifests_file_keeps_the_last_complete_content(
    applied_old: ContentStore, root: Path
) -> None:
    (root / MANIFESTS_FILE).write_bytes(b"\x00\x01 not json")
    store = make_store(root)
    assert served(store) == OLD  # not verifiable, but not blanked either
    assert store.reported()["layers"]["fleet"]["state"] == "none"
    assert store.wanted() == []
    report = store.offer("fleet", manifest(FLEET, 1, OLD))  # the broker sends it again
    assert report is not None
    assert report.state == "applied"
    assert store.wanted() == []
    assert served(store) == OLD
    assert make_store(root).reported()["layers"]["fleet"]["held"] == 1


def test_a_tampered_kept_manifest_is_dropped_and_the_verifiable_ones_served(root: Path) -> None:
    store = make_store(root)
    fleet = {"help.md": b"fleet help", "fleet.md": b"fleet only"}
    device = {"help.md": b"device help", "device.md": b"device only"}
    store.offer("fleet", manifest(FLEET, 1, fleet))
    store.offer("device", manifest(DEVICE, 1, device))
    fetch(store, blobs(fleet, device))

    kept = json.loads((root / MANIFESTS_FILE).read_text())
    document = json.loads(kept["device"])
    document["version"] = 99  # edited on the card
    kept["device"] = json.dumps(document)
    (root / MANIFESTS_FILE).write_text(json.dumps(kept))

    restarted = make_store(root)
    layers = restarted.reported()["layers"]
    assert layers["device"]["state"] == "rejected"
    assert layers["device"]["reason"].startswith("kept copy: ")
    assert layers["fleet"]["state"] == "pending"
    # The fleet's own help.md was cleaned up while the device's hid it: until it is fetched
    # the last complete set is served, whole.
    assert served(restarted) == {**fleet, **device}
    assert restarted.wanted() == [sha(b"fleet help")]
    [report] = fetch(restarted, blobs(fleet))
    assert (report.level, report.state, report.held) == ("fleet", "applied", 1)
    assert served(restarted) == fleet


def test_a_kept_manifest_whose_blobs_are_all_here_is_served_at_once(
    applied_old: ContentStore, root: Path
) -> None:
    applied_old.offer("site", manifest(SITE, 1, {"site.md": b"site"}))
    fetch(applied_old, blobs({"s": b"site"}))
    kept = json.loads((root / MANIFESTS_FILE).read_text())
    kept["site"] = kept["site"].replace('"version":1', '"version":7')
    (root / MANIFESTS_FILE).write_text(json.dumps(kept))
    restarted = make_store(root)
    assert served(restarted) == OLD  # the fleet's set, rebuilt from its blobs
    assert restarted.reported()["layers"]["site"]["state"] == "rejected"
    assert restarted.reported()["layers"]["fleet"]["held"] == 1
