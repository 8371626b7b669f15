"""Software manifests: what a unit and its updater accept, and everything they refuse."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from healthhub.protocol import canonical, software
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import CHUNK_BYTES, chunk_count
from healthhub.protocol.signed import generate_signing_key
from healthhub.protocol.software import SoftwareRejected, WheelFile

SITE = Scope("site", "practice-a")
AT = "2026-11-23T10:00:00.000Z"


def wheel(name: str, data: bytes) -> WheelFile:
    chunks = tuple(
        hashlib.sha256(data[i : i + CHUNK_BYTES]).hexdigest()
        for i in range(0, len(data), CHUNK_BYTES)
    )
    return WheelFile(name, hashlib.sha256(data).hexdigest(), len(data), chunks)


def release(version: str = "1.4.2") -> list[WheelFile]:
    return [
        wheel(f"healthhub-{version}-py3-none-any.whl", b"our code " * 40_000),  # 2 chunks
        wheel("paho_mqtt-2.2.0-py3-none-any.whl", b"paho"),
        wheel(
            "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.manylinux_2_28_x86_64.whl",
            b"c",
        ),
    ]


def test_a_manifest_round_trips_signed_and_names_its_chunks() -> None:
    seed, verify = generate_signing_key()
    manifest = software.make(SITE, "1.4.2", AT, release(), deadline_s=120)
    payload = software.encode(manifest, seed)
    back = software.decode(payload, verify, expected=SITE)
    assert back == manifest
    assert back.files[0].name.startswith("cryptography-")  # sorted by name
    ours = next(f for f in back.files if f.name.startswith("healthhub-"))
    assert len(ours.chunks) == 2
    assert (back.deadline_s, back.allow_downgrade) == (120, False)
    assert software.digest(payload) == hashlib.sha256(payload).hexdigest()


def test_a_forged_or_misdirected_manifest_is_refused() -> None:
    seed, verify = generate_signing_key()
    other, _ = generate_signing_key()
    manifest = software.make(SITE, "1.4.2", AT, release())
    with pytest.raises(SoftwareRejected, match="signature does not verify"):
        software.decode(software.encode(manifest, other), verify, expected=SITE)
    with pytest.raises(SoftwareRejected, match="came on the topic of site practice-b"):
        software.decode(
            software.encode(manifest, seed), verify, expected=Scope("site", "practice-b")
        )
    tampered = canonical.loads(software.encode(manifest, seed))
    tampered["allow_downgrade"] = True  # a signed field changed after signing
    with pytest.raises(SoftwareRejected, match="signature"):
        software.decode(canonical.dumps(tampered), verify, expected=SITE)


@pytest.mark.parametrize(
    "name",
    [
        "../healthhub-1.4.2-py3-none-any.whl",
        "wheels/paho-2.2.0-py3-none-any.whl",
        ".hidden-1.0-py3-none-any.whl",
        "paho-2.2.0.tar.gz",
        "paho-2.2.0-py3-none-any.whl; rm -rf /",
        "-rf-1.0-py3-none-any.whl",
        "paho 2.2.0-py3-none-any.whl",
        "x" * 250 + "-1.0-py3-none-any.whl",
    ],
)
def test_unsafe_wheel_names_are_refused(name: str) -> None:
    with pytest.raises(SoftwareRejected, match="not a wheel file name"):
        software.make(SITE, "1.4.2", AT, [*release(), wheel(name, b"x")])


def test_the_release_must_hold_exactly_its_own_wheel_and_fit_the_budget() -> None:
    files = release()
    with pytest.raises(SoftwareRejected, match="exactly one healthhub wheel, not 0"):
        software.make(SITE, "1.4.2", AT, files[1:])
    with pytest.raises(SoftwareRejected, match="exactly one healthhub wheel, not 2"):
        software.make(SITE, "1.4.2", AT, [*files, wheel("healthhub-1.4.3-py3-none-any.whl", b"2")])
    with pytest.raises(SoftwareRejected, match=r"healthhub wheel is version 1\.4\.2, not 1\.5"):
        software.make(SITE, "1.5", AT, files)
    with pytest.raises(SoftwareRejected, match="named twice"):
        software.make(SITE, "1.4.2", AT, [*files, files[1]])
    huge = WheelFile(
        "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl",
        "0" * 64,
        software.MAX_WHEEL_BYTES,
        ("1" * 64,) * chunk_count(software.MAX_WHEEL_BYTES),
    )
    several = [replace(huge, name=f"big{n}-1.0-py3-none-any.whl") for n in range(5)]
    with pytest.raises(SoftwareRejected, match="the limit is 536870912"):
        software.make(SITE, "1.4.2", AT, [*files, *several])
    with pytest.raises(SoftwareRejected, match="must have 2 chunks"):
        software.make(SITE, "1.4.2", AT, [replace(files[0], chunks=("a" * 64,)), *files[1:]])


def test_versions_are_release_versions_compared_as_numbers() -> None:
    assert software.compare_versions("0.1.10", "0.1.9") == 1
    assert software.compare_versions("1.4", "1.4.0") == 0
    assert software.compare_versions("1.4.0", "1.10.0") == -1
    for bad in ("1", "1.4.2rc1", "01.4", "1.4.2.0.1", "v1.4", "1.4+local", ""):
        with pytest.raises(SoftwareRejected, match="not a release version"):
            software.parse_version(bad)


def test_the_health_deadline_is_bounded() -> None:
    with pytest.raises(SoftwareRejected, match="deadline_s must be 10 to 3600"):
        software.make(SITE, "1.4.2", AT, release(), deadline_s=5)
    with pytest.raises(SoftwareRejected, match="deadline_s must be 10 to 3600"):
        software.make(SITE, "1.4.2", AT, release(), deadline_s=86_400)


def test_a_wheel_folder_is_read_whole_and_anything_else_refused(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "healthhub-0.2.0-py3-none-any.whl").write_bytes(b"ours" * 100_000)
    (folder / "pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.whl").write_bytes(b"yaml")
    version, entries = software.scan_wheels(folder)
    assert version == "0.2.0"
    ours = entries[0][0]
    assert ours.name == "healthhub-0.2.0-py3-none-any.whl"
    assert (ours.size, len(ours.chunks)) == (400_000, 3)
    (folder / "notes.txt").write_text("x")
    with pytest.raises(SoftwareRejected, match="is not a wheel"):
        software.scan_wheels(folder)
    (folder / "notes.txt").unlink()
    (folder / "link-1.0-py3-none-any.whl").symlink_to(folder / "notes.txt")
    with pytest.raises(SoftwareRejected, match="not a plain file"):
        software.scan_wheels(folder)


def test_small_files_between_agent_and_updater_are_read_defensively(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    assert software.read_small_json(path) is None
    path.write_text('{"state": "healthy"}')
    assert software.read_small_json(path) == {"state": "healthy"}
    path.write_text("[1, 2]")
    assert software.read_small_json(path) is None
    path.write_text('{"x": "' + "a" * software.MAX_SMALL_FILE_BYTES + '"}')
    assert software.read_small_json(path) is None
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text('{"state": "healthy"}')
    assert software.read_small_json(path) is None  # never through a link
