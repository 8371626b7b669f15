"""The agent's side of software updates, without a broker: which manifest it follows, the
wheels it fetches and checks, what it lays out for the updater, and what it reports."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from healthhub.agent.software_store import SoftwareStore
from healthhub.protocol import canonical, software
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import chunk, chunk_count
from healthhub.protocol.signed import generate_signing_key
from healthhub.protocol.software import WheelFile

SEED, VERIFY = generate_signing_key()
SITE, DEVICE = Scope("site", "practice-a"), Scope("device", "wall-1")


def release(version: str) -> dict[str, bytes]:
    return {
        f"healthhub-{version}-py3-none-any.whl": f"code of {version} ".encode() * 30_000,
        "paho_mqtt-2.2.0-py3-none-any.whl": b"paho " * 1000,
    }


def manifest(
    files: dict[str, bytes], version: str, scope: Scope = SITE, **options: object
) -> bytes:
    entries = [
        WheelFile(
            name, hashlib.sha256(data).hexdigest(), len(data), tuple(s for s, _ in chunk(data))
        )
        for name, data in files.items()
    ]
    made = software.make(scope, version, now_utc(), entries, **options)  # type: ignore[arg-type]
    return software.encode(made, SEED)


def blobs(files: dict[str, bytes]) -> dict[str, bytes]:
    return {sha: piece for data in files.values() for sha, piece in chunk(data)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "software"


def store(root: Path, running: str = "0.1.0") -> SoftwareStore:
    return SoftwareStore(
        root, VERIFY, device="wall-1", site="practice-a", running=running, reserve_bytes=0
    )


def fetch(unit: SoftwareStore, available: dict[str, bytes]) -> None:
    """What the transport does: every wanted blob, as the broker has it."""
    while wanted := unit.wanted():
        for sha in wanted:
            unit.receive(sha, available[sha])


def test_a_release_is_fetched_checked_and_laid_out_for_the_updater(root: Path) -> None:
    files = release("0.1.1")
    payload = manifest(files, "0.1.1")
    unit = store(root)
    assert unit.offer("site", payload)
    assert unit.reported()["state"] == software.DOWNLOADING
    assert len(unit.wanted()) == 1 + chunk_count(len(files["healthhub-0.1.1-py3-none-any.whl"]))
    fetch(unit, blobs(files))
    report = unit.reported()
    assert (report["state"], report["desired"], report["level"]) == ("ready", "0.1.1", "site")
    assert report["manifest"] == software.digest(payload)
    ready = root / "ready" / "0.1.1"
    assert {p.name: p.read_bytes() for p in ready.iterdir() if p.suffix == ".whl"} == files
    assert (ready / "manifest.json").read_bytes() == payload
    request = json.loads((root / "request.json").read_text())
    assert (request["version"], request["manifest"]) == ("0.1.1", software.digest(payload))
    assert not list((root / "chunks").iterdir())  # joined and gone


def test_a_blob_that_does_not_match_refuses_the_manifest_for_good(root: Path) -> None:
    files = release("0.1.1")
    payload = manifest(files, "0.1.1")
    unit = store(root)
    unit.offer("site", payload)
    first = unit.wanted()[0]
    assert unit.receive(first, b"not the bytes the manifest names")
    report = unit.reported()
    assert report["state"] == software.REJECTED
    assert "does not match its sha256" in report["detail"]
    assert unit.wanted() == []
    assert not (root / "request.json").exists()
    assert not (root / "ready" / "0.1.1").exists()
    unit.offer("site", b"")  # withdrawn and pushed again unchanged: still refused
    unit.offer("site", payload)
    assert unit.reported()["state"] == software.REJECTED
    assert unit.wanted() == []


def test_older_versions_need_allow_downgrade_and_the_running_one_is_healthy(root: Path) -> None:
    unit = store(root, running="0.2.0")
    unit.offer("site", manifest(release("0.1.1"), "0.1.1"))
    report = unit.reported()
    assert report["state"] == software.REJECTED
    assert "older than the running 0.2.0" in report["detail"]
    assert unit.wanted() == []
    unit.offer("site", manifest(release("0.1.1"), "0.1.1", allow_downgrade=True))
    assert unit.reported()["state"] == software.DOWNLOADING
    unit.offer("site", manifest(release("0.2.0"), "0.2.0"))
    assert unit.reported()["state"] == software.HEALTHY
    assert unit.wanted() == []


def test_the_most_specific_manifest_wins_and_a_forged_one_is_refused(root: Path) -> None:
    unit = store(root)
    unit.offer("site", manifest(release("0.1.1"), "0.1.1"))
    unit.offer("device", manifest(release("0.1.2"), "0.1.2", scope=DEVICE))
    assert unit.reported()["desired"] == "0.1.2"
    forger, _ = generate_signing_key()
    files = release("0.1.3")
    entries = [
        WheelFile(name, hashlib.sha256(d).hexdigest(), len(d), tuple(s for s, _ in chunk(d)))
        for name, d in files.items()
    ]
    forged = software.encode(software.make(DEVICE, "0.1.3", now_utc(), entries), forger)
    unit.offer("device", forged)
    report = unit.reported()
    assert report["state"] == software.REJECTED
    assert "signature does not verify" in report["detail"]
    assert unit.wanted() == []  # nothing fetched, and no fallback to the site's manifest
    unit.offer("site", manifest(release("0.1.1"), "0.1.1", scope=DEVICE))  # wrong topic
    unit.offer("device", b"")
    assert "came on the topic of site practice-a" in unit.reported()["detail"]


def test_a_rolled_back_manifest_is_reported_and_never_requested_again(root: Path) -> None:
    files = release("0.1.2")
    payload = manifest(files, "0.1.2")
    digest = software.digest(payload)
    unit = store(root, running="0.1.1")
    unit.offer("site", payload)
    fetch(unit, blobs(files))
    result = {
        "state": "rolled-back",
        "version": "0.1.2",
        "manifest": digest,
        "detail": "rolled back to 0.1.1: not healthy within 30 s",
        "at": now_utc(),
    }
    (root / "result.json").write_bytes(canonical.dumps(result))
    assert unit.poll({})
    assert unit.reported()["state"] == software.ROLLED_BACK
    assert not (root / "request.json").exists()
    assert not (root / "ready" / "0.1.2").exists()
    again = store(root, running="0.1.1")  # the restarted agent; the broker sends it again
    again.offer("site", payload)
    report = again.reported()
    assert (report["state"], report["desired"]) == ("rolled-back", "0.1.2")
    assert "not healthy within 30 s" in report["detail"]
    assert again.wanted() == []
    assert not (root / "request.json").exists()
    pushed_again = manifest(files, "0.1.2")  # a new push is a new manifest: tried again
    again.offer("site", pushed_again)
    assert again.reported()["state"] == software.READY  # its wheels are still here
    assert json.loads((root / "request.json").read_text())["manifest"] != digest


def test_health_is_written_only_while_this_release_is_on_trial(root: Path) -> None:
    unit = store(root, running="0.1.1")
    health = {"link": "connected", "last_seq": 9, "confirmed_seq": 7, "confirmed_at_start": 4}
    checking = {"state": "checking", "version": "0.1.0", "manifest": "a" * 64, "at": now_utc()}
    (root / "result.json").write_bytes(canonical.dumps(checking))
    unit.poll(health)
    assert not (root / "health.json").exists()  # another release is on trial
    (root / "result.json").write_bytes(canonical.dumps(checking | {"version": "0.1.1"}))
    assert unit.poll(health)
    assert unit.reported()["state"] == software.INSTALLING
    written = json.loads((root / "health.json").read_text())
    assert written == {**health, "version": "0.1.1", "pid": os.getpid(), "at": written["at"]}
    healthy = checking | {"state": "healthy", "version": "0.1.1", "detail": "connected"}
    (root / "result.json").write_bytes(canonical.dumps(healthy))
    assert unit.poll(health)
    assert unit.reported()["state"] == software.HEALTHY
    assert not (root / "health.json").exists()


def test_a_request_the_updater_lost_is_written_again(root: Path) -> None:
    files = release("0.1.1")
    unit = store(root)
    unit.offer("site", manifest(files, "0.1.1"))
    fetch(unit, blobs(files))
    (root / "request.json").unlink()
    unit.poll({})
    assert json.loads((root / "request.json").read_text())["version"] == "0.1.1"


def test_what_an_interrupted_run_left_is_cleared_and_whole_wheels_kept(root: Path) -> None:
    files = release("0.1.1")
    payload = manifest(files, "0.1.1")
    unit = store(root)
    unit.offer("site", payload)
    ours = next(n for n in files if n.startswith("healthhub"))
    first = unit.wanted()
    unit.receive(first[0], blobs(files)[first[0]])
    (root / "ready" / ".0.1.1.tmp").mkdir()
    (root / ".request.json.x.tmp").write_text("{")
    (root / "wheels" / "not-a-hash").write_text("x")
    restarted = store(root)
    assert not (root / "ready" / ".0.1.1.tmp").exists()
    assert not (root / ".request.json.x.tmp").exists()
    assert not (root / "wheels" / "not-a-hash").exists()
    restarted.offer("site", payload)
    assert first[0] not in restarted.wanted()  # the chunk kept is not fetched again
    fetch(restarted, blobs(files))
    assert (root / "ready" / "0.1.1" / ours).read_bytes() == files[ours]
