"""``healthhub-provision update-apply`` against a staging root, without pip: everything the
updater refuses leaves ``/opt`` exactly as it was; an attempt cut short by a power cut is
finished (checked again, or rolled back); the health check's rules. Releases here are
folders with the "built" marker (building real venvs is tests/system/test_software_update.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from processes import run_cli, tree

from healthhub.protocol import canonical, software
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.content import chunk
from healthhub.protocol.keys import write_key
from healthhub.protocol.signed import generate_signing_key
from healthhub.protocol.software import WheelFile
from healthhub.provisioning.update_health import HealthCheck, judge

SEED, VERIFY = generate_signing_key()
SITE = Scope("site", "practice-a")


def fake_release(root: Path, version: str) -> None:
    """A release as venv_release leaves it (its marker), without building a venv."""
    folder = root / "opt/healthhub/releases" / version
    (folder / "venv/bin").mkdir(parents=True)
    (folder / ".complete").write_text(f"{version}\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/healthhub").mkdir(parents=True)
    write_key(root / "etc/healthhub/signing.pub", VERIFY, private=False)
    (root / "etc/healthhub/device.yaml").write_text(
        "device:\n  id: wall-1\n  site: practice-a\n  role: wall\n"
    )
    fake_release(root, "0.1.0")
    (root / "opt/healthhub/venv").symlink_to("releases/0.1.0/venv")
    (root / "var/lib/healthhub/software/ready").mkdir(parents=True)
    return root


def wheels(version: str) -> dict[str, bytes]:
    return {
        f"healthhub-{version}-py3-none-any.whl": f"release {version} ".encode() * 20_000,
        "pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.whl": b"yaml",
    }


def ask(
    root: Path,
    version: str,
    *,
    files: dict[str, bytes] | None = None,
    scope: Scope = SITE,
    seed: bytes = SEED,
    **options: Any,
) -> str:
    """What the agent does: the wheels and the signed manifest in ready/, then the request.
    Returns the manifest's sha256."""
    files = wheels(version) if files is None else files
    entries = [
        WheelFile(n, hashlib.sha256(d).hexdigest(), len(d), tuple(s for s, _ in chunk(d)))
        for n, d in files.items()
    ]
    payload = software.encode(software.make(scope, version, now_utc(), entries, **options), seed)
    ready = root / "var/lib/healthhub/software/ready" / version
    ready.mkdir()
    for name, data in files.items():
        (ready / name).write_bytes(data)
    (ready / "manifest.json").write_bytes(payload)
    digest = software.digest(payload)
    request = {"version": version, "manifest": digest, "requested_at": now_utc()}
    (root / "var/lib/healthhub/software/request.json").write_bytes(canonical.dumps(request))
    return digest


def apply(root: Path, *extra: str, restart: str = "true") -> tuple[int, str]:
    result = run_cli(
        "healthhub-provision", "update-apply", "--root", str(root), "--settle-seconds", "0",
        "--restart-command", restart, *extra, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def result_of(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "var/lib/healthhub/software/result.json").read_text()))


def refused_without_touching_opt(root: Path, reason: str) -> None:
    before = tree(root / "opt")
    code, output = apply(root)
    assert code == 1, output
    assert reason in output
    assert (result_of(root)["state"], reason in result_of(root)["detail"]) == ("rejected", True)
    assert not (root / "var/lib/healthhub/software/request.json").exists()
    assert tree(root / "opt") == before


def test_a_wheel_changed_after_the_agent_checked_it_is_refused(root: Path) -> None:
    ask(root, "0.1.1")
    wheel = root / "var/lib/healthhub/software/ready/0.1.1/healthhub-0.1.1-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes()[:-1] + b"!")  # the agent's word is not taken
    refused_without_touching_opt(
        root, "wheel healthhub-0.1.1-py3-none-any.whl does not match its sha256"
    )


def test_a_software_folder_swapped_for_a_link_is_refused_and_nothing_written_there(
    root: Path, tmp_path: Path
) -> None:
    """The agent owns /var/lib/healthhub: a link it puts there must not steer root's writes."""
    ask(root, "0.1.1")
    software = root / "var/lib/healthhub/software"
    elsewhere = tmp_path / "elsewhere"
    software.rename(elsewhere)
    software.symlink_to(elsewhere)
    before = tree(elsewhere)
    code, output = apply(root)
    assert code == 1
    assert "is not a plain folder" in output
    assert tree(elsewhere) == before  # no result.json written, no request removed


def test_a_manifest_signed_by_another_key_is_refused(root: Path) -> None:
    forger, _ = generate_signing_key()
    ask(root, "0.1.1", seed=forger)
    refused_without_touching_opt(root, "signature does not verify")


def test_another_sites_manifest_is_refused(root: Path) -> None:
    ask(root, "0.1.1", scope=Scope("site", "practice-b"))
    refused_without_touching_opt(root, "the manifest is for site practice-b, not this unit")


def test_a_request_that_does_not_name_its_manifest_is_refused(root: Path) -> None:
    ask(root, "0.1.1")
    request = root / "var/lib/healthhub/software/request.json"
    request.write_bytes(canonical.dumps({"version": "0.1.1", "manifest": "0" * 64}))
    refused_without_touching_opt(root, "does not name the manifest")


def test_a_wheel_swapped_for_a_link_is_refused(root: Path, tmp_path: Path) -> None:
    ask(root, "0.1.1")
    wheel = (
        root
        / "var/lib/healthhub/software/ready/0.1.1/pyyaml-6.0.3-cp311-cp311-manylinux2014_x86_64.whl"
    )
    (tmp_path / "elsewhere").write_bytes(wheel.read_bytes())
    wheel.unlink()
    wheel.symlink_to(tmp_path / "elsewhere")
    refused_without_touching_opt(root, "is missing")


def test_downgrades_need_the_manifests_permission(root: Path) -> None:
    ask(root, "0.0.9")
    refused_without_touching_opt(root, "older than the running 0.1.0 (no downgrade)")


def test_an_old_manifest_sent_again_cannot_take_the_unit_back(root: Path) -> None:
    """A manifest that once allowed a downgrade, replayed after a newer release went in."""
    installed_last = {"current": "0.1.0", "issued_at": "2099-01-01T00:00:00.000Z"}
    (root / "opt/healthhub/update-state.json").write_bytes(canonical.dumps(installed_last))
    ask(root, "0.0.9", allow_downgrade=True)
    refused_without_touching_opt(root, "issued before the one installed last")


def test_the_running_version_is_healthy_and_nothing_is_done(root: Path) -> None:
    before = tree(root / "opt/healthhub/releases")
    ask(root, "0.1.0")
    code, output = apply(root)
    assert code == 0, output
    assert result_of(root)["state"] == "healthy"
    assert tree(root / "opt/healthhub/releases") == before
    assert not (root / "var/lib/healthhub/software/request.json").exists()
    code, output = apply(root)  # the path unit starting it again: nothing to do
    assert (code, "no update requested" in output) == (0, True)


def _attempt(root: Path, digest: str, phase: str, **more: Any) -> None:
    state = {
        "current": "0.1.0",
        "previous": None,
        "attempt": {
            "manifest": digest,
            "version": "0.1.1",
            "previous": "0.1.0",
            "deadline_s": 30,
            "phase": phase,
            **more,
        },
    }
    (root / "opt/healthhub/update-state.json").write_bytes(canonical.dumps(state))


def _healthy_agent(root: Path, version: str, *, link: str = "connected") -> str:
    """A restart command that plays the new agent: it writes its health record."""
    record = {"version": version, "pid": os.getpid(), "link": link, "last_seq": 40,
              "confirmed_seq": 38, "confirmed_at_start": 30, "at": now_utc()}  # fmt: skip
    path = root / "var/lib/healthhub/software/health.json"
    return f"/bin/sh -c {shlex.quote(f'printf %s {shlex.quote(json.dumps(record))} > {path}')}"


def test_a_power_cut_during_the_check_is_finished_by_the_next_run(root: Path) -> None:
    """Cut after the switch: the link points to 0.1.1 and the request is still there."""
    digest = ask(root, "0.1.1")
    fake_release(root, "0.1.1")
    fake_release(root, "0.0.8")  # older than the previous one: pruned once healthy
    (root / "opt/healthhub/venv").unlink()
    (root / "opt/healthhub/venv").symlink_to("releases/0.1.1/venv")
    _attempt(root, digest, "checking")
    code, output = apply(root, restart=_healthy_agent(root, "0.1.1"))
    assert code == 0, output
    assert "update 0.1.1: healthy: 0.1.1 connected, confirmed seq 38 of 40" in output
    kept = json.loads((root / "opt/healthhub/update-state.json").read_text())
    assert (kept["current"], kept["previous"], kept["attempt"]) == ("0.1.1", "0.1.0", None)
    assert os.readlink(root / "opt/healthhub/venv") == "releases/0.1.1/venv"
    assert sorted(p.name for p in (root / "opt/healthhub/releases").iterdir()) == [
        "0.1.0", "0.1.1",
    ]  # fmt: skip
    assert result_of(root)["state"] == "healthy"
    assert not (root / "var/lib/healthhub/software/request.json").exists()


def test_a_power_cut_during_a_rollback_is_finished_and_the_version_never_retried(
    root: Path,
) -> None:
    digest = ask(root, "0.1.1")
    fake_release(root, "0.1.1")
    (root / "opt/healthhub/venv").unlink()
    (root / "opt/healthhub/venv").symlink_to("releases/0.1.1/venv")
    _attempt(root, digest, "rolling-back", reason="not connected to the broker")
    code, output = apply(root)
    assert code == 1, output
    assert os.readlink(root / "opt/healthhub/venv") == "releases/0.1.0/venv"
    result = result_of(root)
    assert result["state"] == "rolled-back"
    assert result["detail"] == "rolled back to 0.1.0: not connected to the broker"
    assert not (root / "opt/healthhub/releases/0.1.1").exists()
    ask_again = root / "var/lib/healthhub/software"
    (ask_again / "request.json").write_bytes(
        canonical.dumps({"version": "0.1.1", "manifest": digest})
    )
    before = tree(root / "opt/healthhub/releases")
    code, output = apply(root)
    assert code == 1, output
    assert "not tried again: rolled back to 0.1.0" in output
    assert tree(root / "opt/healthhub/releases") == before


def test_a_release_that_does_not_come_up_connected_is_rolled_back(root: Path) -> None:
    digest = ask(root, "0.1.1")
    fake_release(root, "0.1.1")
    _attempt(root, digest, "switching", deadline_s=1)
    code, output = apply(root, restart=_healthy_agent(root, "0.1.1", link="connecting"))
    assert code == 1, output
    assert "not healthy within 1 s: not connected to the broker (connecting)" in output
    assert os.readlink(root / "opt/healthhub/venv") == "releases/0.1.0/venv"
    kept = json.loads((root / "opt/healthhub/update-state.json").read_text())
    assert kept["attempt"] is None
    assert kept["failed"][digest]["state"] == "rolled-back"


def _record(**changes: Any) -> dict[str, Any]:
    healthy = {"version": "0.1.1", "pid": os.getpid(), "link": "connected", "last_seq": 10,
               "confirmed_seq": 8, "confirmed_at_start": 5}  # fmt: skip
    return healthy | changes


@pytest.mark.parametrize(
    ("record", "age", "reason"),
    [
        (None, 0, "no health report from 0.1.1"),
        (_record(version="0.1.0"), 0, "the agent running is 0.1.0, not 0.1.1"),
        (_record(), 30, "30 s old (hung or stopped)"),
        (_record(pid=2**22 + 7), 0, "the agent is not running"),
        (_record(link="disconnected"), 0, "not connected to the broker (disconnected)"),
        (_record(confirmed_seq=5), 0, "no reading confirmed yet (confirmed seq 5, last taken 10)"),
        (_record(last_seq="10"), 0, "no outbox sequence numbers"),
    ],
)
def test_the_health_rules(record: dict[str, Any] | None, age: float, reason: str) -> None:
    found = judge(record, "0.1.1", age)
    assert found is not None
    assert reason in found


def test_healthy_means_confirmed_since_the_start_or_nothing_left_to_confirm() -> None:
    assert judge(_record(), "0.1.1", 0) is None
    assert judge(_record(last_seq=5, confirmed_seq=5, confirmed_at_start=5), "0.1.1", 0) is None


def test_a_restarted_agent_starts_the_settling_time_again(tmp_path: Path) -> None:
    """Healthy, then another process (the first one died and came back): only a full
    ``settle_s`` of the same process passes."""
    path = tmp_path / "health.json"
    now = [0.0]
    other = os.getppid()  # a live process that is not the first one

    def sleep(seconds: float) -> None:
        now[0] += seconds
        path.write_text(json.dumps(_record(pid=other)))

    path.write_text(json.dumps(_record()))
    check = HealthCheck(path, settle_s=2.5, poll_s=1.0, clock=lambda: now[0], sleep=sleep)
    healthy, detail = check.wait("0.1.1", 60)
    assert healthy, detail
    assert now[0] == 4.0  # pid changed at 1.0; 1.0 + 2.5 rounds up to the poll at 4.0


def test_a_release_that_does_not_build_is_refused_and_leaves_nothing_behind(root: Path) -> None:
    """pip refuses a damaged wheel (the sha256 is the fleet's, the bytes are no zip): the
    partial venv goes, the running release stays in use."""
    ask(root, "0.1.1", files={"healthhub-0.1.1-py3-none-any.whl": b"not a zip file"})
    before = sorted(tree(root / "opt"))
    code, output = apply(root)
    assert code == 1, output
    assert "could not install the wheels" in result_of(root)["detail"]
    assert sorted(tree(root / "opt")) == before
    assert os.readlink(root / "opt/healthhub/venv") == "releases/0.1.0/venv"
    assert not (root / "var/lib/healthhub/software/request.json").exists()
