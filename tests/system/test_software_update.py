"""Software updates end to end: a unit installed from a wheel set (0.1.0) runs its agent from
the installed release under a supervisor (systemd's ``Restart=``), taking readings; the fleet
pushes a good release (0.1.1), which is fetched, verified, built beside the running one,
switched, found healthy and reported; then a broken one (0.1.2, whose agent dies at start),
which the unit rolls back by itself; then a forged manifest and a wheel whose bytes do not
match, which are refused without touching ``/opt``. Through all of it every reading is filed
exactly once. Real mosquitto, bridge, pip, venvs and processes; the updater is started the
way ``healthhub-update.path`` starts it (when the agent's request appears), from the release
in use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Enrol, Service, bridge, configure, rows, run_cli, tree, wait_until

from healthhub.fleet.console_session import ConsoleSession
from healthhub.protocol import software, topics
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.signed import generate_signing_key
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = [pytest.mark.system, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parent.parent.parent
TESTS = REPO / "tests"
DEVICE = "wall-1"
BROKEN = 'raise RuntimeError("a deliberately broken release: its agent cannot start")\n'
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", "build", ".git", "*.egg-info", "tests", "__pycache__", ".*_cache", "docs"
)


def _build_release(source: Path, version: str, out: Path, *, broken: bool) -> None:
    pyproject = source / "pyproject.toml"
    text = re.sub(r'(?m)^version = "[^"]+"$', f'version = "{version}"', pyproject.read_text())
    pyproject.write_text(text)
    if broken:
        cli = source / "agent" / "cli.py"
        future = "from __future__ import annotations\n"
        cli.write_text(cli.read_text().replace(future, future + BROKEN, 1))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--disable-pip-version-check", "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def releases(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheel sets of 0.1.1 (good) and 0.1.2 (its agent raises at import), each with the
    dependency wheels of the session's 0.1.0 set (hard links: the same bytes)."""
    base = tmp_path_factory.mktemp("releases")
    source = base / "src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE)
    found = {}
    for version, broken in (("0.1.1", False), ("0.1.2", True)):
        own = base / f"own-{version}"
        _build_release(source, version, own, broken=broken)
        folder = base / f"wheels-{version}"
        folder.mkdir()
        for path in [*wheels.iterdir(), *own.iterdir()]:
            if not path.name.startswith("healthhub-") or path.parent == own:
                os.link(path, folder / path.name)
        found[version] = folder
    return found


class PathUnit:
    """``healthhub-update.path``: while the agent's request exists, run the updater of the
    release in use (``/opt/healthhub/venv/bin/healthhub-provision update-apply``)."""

    def __init__(self, root: Path, restart: str, log: Path) -> None:
        self.root, self.restart, self.log = root, restart, log
        self.request = root / "var/lib/healthhub/software/request.json"
        self.runs: list[int] = []
        self.busy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PathUnit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(600)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.busy = self.request.exists()
            if self.busy:
                link = self.root / "opt/healthhub/venv"
                python = link.parent / os.readlink(link) / "bin/python"
                with self.log.open("ab") as log:
                    done = subprocess.run(
                        [str(python), "-m", "healthhub.provisioning", "update-apply",
                         "--root", str(self.root), "--restart-command", self.restart,
                         "--settle-seconds", "3"],
                        stdout=log, stderr=subprocess.STDOUT, cwd="/", timeout=900, check=False,
                    )  # fmt: skip
                self.runs.append(done.returncode)
                self.busy = False
            self._stop.wait(0.2)

    def idle(self) -> bool:
        """No request waiting and no updater running."""
        return not self.busy and not self.request.exists()


def _status(state: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state / "agent-status.json").read_text()))
    except (OSError, ValueError):
        return {}


def _running(state: Path, version: str) -> bool:
    status = _status(state)
    alive = isinstance(status.get("pid"), int) and Path(f"/proc/{status['pid']}").exists()
    connected = (status.get("link") or {}).get("state") == "connected"
    return alive and connected and status.get("version") == version


def _outbox(state: Path) -> tuple[int, int]:
    """(last seq taken, confirmed seq) from the outbox, read-only."""
    meta = dict(rows(state / "outbox.sqlite", "SELECT key, value FROM meta"))
    return int(meta.get("last_seq", 0)), int(meta.get("confirmed_seq", 0))


def _all_filed_once(store: Path, state: Path) -> int:
    """Wait until everything taken so far is confirmed; check the store holds seq 1..N once
    each, with distinct ids. Returns N."""
    taken, _ = _outbox(state)
    wait_until(lambda: _outbox(state)[1] >= taken, 120, f"seq {taken} confirmed")
    filed = rows(store, "SELECT seq, id FROM envelopes WHERE device = ? ORDER BY seq", (DEVICE,))
    seqs = [seq for seq, _ in filed]
    assert seqs[:taken] == list(range(1, taken + 1)), "a reading missing or filed twice"
    assert len({envelope_id for _, envelope_id in filed}) == len(filed)
    return taken


def _software_report(store: Path) -> dict[str, Any]:
    found = rows(store, "SELECT software FROM device_reports WHERE device = ?", (DEVICE,))
    return dict(json.loads(found[0][0])) if found and found[0][0] else {}


def _shown_version(fleet: FleetLayout, store: Path) -> str | None:
    """The version ``healthhub-fleet status`` shows for the unit (its telemetry)."""
    result = run_cli(
        "healthhub-fleet", "status", "--fleet", str(fleet.root), "--store", str(store), "--json"
    )
    found = {row["device"]: row for row in json.loads(result.stdout)}
    return found[DEVICE].get("version")


def _update(fleet: FleetLayout, wheels: Path, deadline: int) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        "healthhub-fleet", "update", "--fleet", str(fleet.root), "--wheels", str(wheels),
        "--device", DEVICE, "--deadline", str(deadline), "--wait", "900", "--json",
        check=False, timeout=1000,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def unit(
    fleet: FleetLayout, enrol: Enrol, wheels: Path, tmp_path: Path
) -> Iterator[tuple[Path, Path, Service]]:
    """0.1.0 installed into a staging root, its agent running from there under the
    supervisor, taking a simulated reading every 0.3 s: (root, device.yaml, supervisor)."""
    config = enrol(DEVICE, sim_interval=0.3)
    root = tmp_path / "root"
    run_cli(
        "healthhub-provision", "install", "--root", str(root), "--wheels", str(wheels),
        "--bundle", str(fleet.device_dir(DEVICE)), timeout=900,
    )  # fmt: skip
    configure(config, state_dir=str(root / "var/lib/healthhub"), telemetry={"interval_s": 1.0})
    supervisor = Service(
        "supervisor",
        [sys.executable, str(TESTS / "agent_supervisor.py"), "--link",
         str(root / "opt/healthhub/venv"), "--pidfile", str(tmp_path / "agent.pid"), "--",
         "-m", "healthhub.agent", "--config", str(config)],
        tmp_path,
    ).start()  # fmt: skip
    yield root, config, supervisor
    supervisor.signal(signal.SIGTERM)
    supervisor.stop()


def test_a_good_release_goes_live_and_a_broken_one_rolls_back_by_itself(
    fleet: FleetLayout,
    broker: BrokerProcess,
    unit: tuple[Path, Path, Service],
    releases: dict[str, Path],
    tmp_path: Path,
) -> None:
    root, _, supervisor = unit
    state = root / "var/lib/healthhub"
    link = root / "opt/healthhub/venv"
    store = tmp_path / "store.sqlite"
    bridge(fleet.root, store, tmp_path).start()
    restart = f"/bin/sh -c 'kill -TERM \"$(cat {tmp_path / 'agent.pid'})\"'"
    wait_until(lambda: _running(state, "0.1.0"), 90, "the installed 0.1.0 agent connected")
    wait_until(lambda: _outbox(state)[0] >= 5, 60, "readings taken")

    with PathUnit(root, restart, tmp_path / "updater.log") as path_unit:
        # (a) a good release: fetched, verified, built beside 0.1.0, switched, healthy
        code, outcome = _update(fleet, releases["0.1.1"], deadline=120)
        assert code == 0, outcome
        assert outcome["healthy"] == [DEVICE]
        wait_until(path_unit.idle, 60, "the updater done")
        assert os.readlink(link) == "releases/0.1.1/venv"
        assert sorted(p.name for p in (root / "opt/healthhub/releases").iterdir()) == [
            "0.1.0", "0.1.1",
        ]  # fmt: skip
        wait_until(lambda: _running(state, "0.1.1"), 60, "the 0.1.1 agent connected")
        report = wait_until(
            lambda: (r := _software_report(store)).get("version_running") == "0.1.1" and r,
            60, "the bridge keeps the software report",
        )  # fmt: skip
        assert report["state"] == software.HEALTHY
        taken = _all_filed_once(store, state)
        wait_until(lambda: _outbox(state)[0] > taken + 3, 60, "readings taken by 0.1.1")
        _all_filed_once(store, state)
        kept = json.loads((root / "opt/healthhub/update-state.json").read_text())
        assert (kept["current"], kept["previous"]) == ("0.1.1", "0.1.0")
        wait_until(lambda: _shown_version(fleet, store) == "0.1.1", 60, "status shows 0.1.1")

        # (b) a broken release: its agent dies at every start; the unit switches back itself
        code, outcome = _update(fleet, releases["0.1.2"], deadline=30)
        assert code == 1, outcome
        assert outcome["failed"][DEVICE].startswith("rolled-back: rolled back to 0.1.1"), outcome
        assert "not healthy within 30 s" in outcome["failed"][DEVICE]
        assert os.readlink(link) == "releases/0.1.1/venv"
        assert "a deliberately broken release" in supervisor.log()  # it was started
        wait_until(path_unit.idle, 60, "the updater done")
        wait_until(lambda: _running(state, "0.1.1"), 60, "0.1.1 back and connected")
        report = wait_until(
            lambda: (r := _software_report(store)).get("state") == "rolled-back" and r,
            60, "the rollback reported",
        )  # fmt: skip
        assert (report["desired"], report["version_running"]) == ("0.1.2", "0.1.1")
        assert sorted(p.name for p in (root / "opt/healthhub/releases").iterdir()) == [
            "0.1.0", "0.1.1",
        ]  # fmt: skip
        _all_filed_once(store, state)  # taken before, during and after the failed attempt
        # The retained manifest came again to the restarted agent: it is not tried again.
        time.sleep(3)
        assert not (state / "software" / software.REQUEST_FILE).exists()
        assert all(code in (0, 1) for code in path_unit.runs)

        # (c) a forged manifest, and a wheel whose bytes do not match: /opt is not touched
        before = tree(root / "opt")
        _forged_and_mismatched(fleet, releases["0.1.1"])
        report = wait_until(
            lambda: "does not match its sha256" in (r := _software_report(store)).get(
                "detail", ""
            ) and r,
            60, "the mismatching wheel refused",
        )  # fmt: skip
        assert report["state"] == software.REJECTED
        assert tree(root / "opt") == before
        assert not (state / "software" / software.REQUEST_FILE).exists()
        _all_filed_once(store, state)


def _forged_and_mismatched(fleet: FleetLayout, wheels: Path) -> None:
    """Publish a manifest signed with another key (refused on its signature), then one
    signed by the fleet whose Health Hub wheel's blob is not what it names."""
    scope = Scope("device", DEVICE)
    _, entries = software.scan_wheels(wheels)
    deps = [file for file, _ in entries if not file.name.startswith("healthhub-")]
    fake = b"not a wheel" * 100
    wrong = b"something else" * 100
    sha = hashlib.sha256(fake).hexdigest()
    ours = software.WheelFile("healthhub-0.1.3-py3-none-any.whl", sha, len(fake), (sha,))
    manifest = software.make(scope, "0.1.3", now_utc(), [*deps, ours], deadline_s=60)
    forger, _ = generate_signing_key()
    session = ConsoleSession(fleet, "forger")
    try:
        session.subscribe([(topics.software_reported(DEVICE), 1)], settle=False)
        forged = software.encode(manifest, forger)
        session.publish(software.software_topic(scope), forged, retain=True)
        wait_until(
            lambda: "signature does not verify" in _reported(session).get("detail", ""),
            60, "the forged manifest refused",
        )  # fmt: skip
        session.publish(topics.content_blob(sha), wrong, retain=True)
        signed = software.encode(manifest, read_key(fleet.signing_key))
        session.publish(software.software_topic(scope), signed, retain=True)
    finally:
        session.close()


def _reported(session: ConsoleSession) -> dict[str, Any]:
    payload = session.snapshot().get(topics.software_reported(DEVICE))
    return dict(json.loads(payload)) if payload else {}
