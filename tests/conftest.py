"""Fixtures shared by every suite: a real fleet, a real mosquitto, artefact folders.

``fleet`` is a fleet folder made by the provisioning API on a free loopback
port; ``enrol`` adds devices to it; ``broker`` runs mosquitto with the fleet's
generated configuration (TLS, client certificates, ACL). A device enrolled
while the broker runs is allowed at once: ``enrol`` re-renders the ACL, sends
the broker SIGHUP (its pid is in ``broker/mosquitto.pid``) and waits until the
broker has logged the reload.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import log_scan
import processes
import pytest
from processes import BROKER_LOG, Enrol, free_port

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_config import refresh_acl, write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess, reload_acl
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

REPO = Path(__file__).resolve().parent.parent
RELOAD_TIMEOUT_S = 10.0


@pytest.fixture
def fleet(tmp_path: Path) -> FleetLayout:
    """A fleet "Test PCN" with broker config (bind 127.0.0.1) and no devices yet."""
    layout = init_fleet(
        tmp_path / "fleet", name="Test PCN", broker_host="localhost", broker_port=free_port()
    )
    write_broker_config(layout, bind="127.0.0.1")
    return layout


def _reloads(log: Path) -> int:
    return log.read_text(errors="replace").count("Reloading config") if log.exists() else 0


@pytest.fixture
def enrol(fleet: FleetLayout, tmp_path: Path) -> Enrol:
    """enrol(device, site="practice-a", role="wall", simulate=True, sim_interval=0.2) -> device.yaml

    Re-renders the ACL; a running broker reloads it before ``enrol`` returns.
    """

    def enrol_one(
        device: str,
        site: str = "practice-a",
        role: str = "wall",
        simulate: bool = True,
        sim_interval: float = 0.2,
    ) -> Path:
        path = enrol_device(
            fleet,
            device=device,
            site=site,
            role=role,
            simulate=simulate,
            sim_interval_s=sim_interval,
        )
        refresh_acl(fleet)
        log = tmp_path / BROKER_LOG
        before = _reloads(log)
        if reload_acl(fleet):
            deadline = time.monotonic() + RELOAD_TIMEOUT_S
            while _reloads(log) <= before:
                if time.monotonic() > deadline:
                    raise AssertionError(f"mosquitto did not log a reload of its ACL; see {log}")
                time.sleep(0.01)
        return path

    return enrol_one


@pytest.fixture
def broker(fleet: FleetLayout, tmp_path: Path) -> Iterator[BrokerProcess]:
    """mosquitto running the fleet's config; its log is ``tmp_path/mosquitto.log``."""
    process = BrokerProcess(fleet, log_path=tmp_path / BROKER_LOG)
    process.start()  # a failure raises with the tail of the log
    yield process
    process.stop()


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A real X display (Xvfb, 1280x800, 24 bit) for the Kivy UI; yields its DISPLAY value."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise AssertionError("Xvfb not found: run `make setup` (apt-get install xvfb)")
    for number in range(90, 190):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            break
    else:
        raise AssertionError("no free X display number between :90 and :189")
    process = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    socket_path = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AssertionError(f"Xvfb :{number} did not start: {err[-500:]}")
        time.sleep(0.05)
    yield f":{number}"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release's wheel set, built once per session from this source tree: ``pip wheel``
    builds Health Hub's own wheel and fetches its dependencies' (from pip's cache after the
    first run; PyPI otherwise), what ``healthhub-provision install --wheels`` and a software
    update install from on a unit."""
    folder = tmp_path_factory.mktemp("wheels")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(folder), str(REPO)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"pip wheel failed (PyPI or pip's cache must be reachable; `make setup` first):\n"
        f"{result.stderr[-2000:]}"
    )
    return folder


@pytest.fixture(autouse=True)
def _reap_services() -> Iterator[None]:
    """No process a test started outlives it, whether the test passed or not."""
    yield
    while processes.STARTED:
        processes.STARTED.pop().kill()


@pytest.fixture(autouse=True)
def _logs_hold_no_secrets(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every log under the test's ``tmp_path`` is scanned when it ends (tests/log_scan.py)."""
    # Asked for before the test runs, so that tmp_path is torn down after this scan.
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp is None:
        return
    logs = list(tmp.rglob("*.log"))
    if not logs:
        return
    findings = log_scan.scan(logs, log_scan.fleet_secrets(tmp))
    assert not findings, "secrets or patient data in logs:\n" + "\n".join(findings[:20])


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``tests/artifacts/<test>/`` (gitignored), for screenshots and logs."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    path = REPO / "tests" / "artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> None:
    """On failure, show the tail of every process log the test kept."""
    if call.when != "call" or call.excinfo is None:
        return
    tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
    if isinstance(tmp, Path):
        for log in sorted(tmp.rglob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            item.add_report_section("call", f"log {log.name}", tail)
