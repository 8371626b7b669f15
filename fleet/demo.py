"""``healthhub-demo``: a whole simulated practice on one machine.

Creates a throw-away fleet (one practice site; one kiosk and two wall tablets
with simulated peripherals), starts mosquitto with the generated TLS/ACL
configuration, the bridge and the three agents as separate processes, exactly
as they run for real, and shows live progress from the devices' telemetry
until Ctrl-C (or ``--duration``), then a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import yaml

from healthhub.fleet import content_push
from healthhub.fleet.console import ConsoleError, FleetWatcher
from healthhub.fleet.staff_accounts import StaffAccounts
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.fleet_layout import FleetLayout

SITE = "demo-practice"
#: The forms, information pages, services and notices a practice starts from.
STARTER_CONTENT = Path(__file__).parent / "starter_content"
DEVICES = (("kiosk-1", "kiosk"), ("wall-1", "wall"), ("wall-2", "wall"))
#: The kiosk's own parts, simulated on gpiozero's MockFactory: someone walks up every
#: 40 s (the attract screen wakes), and a status LED follows the broker link.
KIOSK_PARTS = [
    {
        "name": "pir",
        "driver": "presence_sensor",
        "backend": "simulator",
        "script": [{"after_s": 40, "for_s": 5}],
        "repeat": True,
    },
    {"name": "status-led", "driver": "status_led", "backend": "simulator"},
]
#: The kiosk's staff PIN in the demo only (hold the top-left corner for 3 s to open it).
DEMO_STAFF_PIN = "2468"
#: The dashboard's demo account (a fleet admin); its password is made for each run.
DEMO_DASHBOARD_USER = "demo-admin"


def _script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"healthhub-demo: {name} not found: run `make setup`")
    return found


def _pin_hash(pin: str) -> str:
    # The fleet never imports the agent: ask its command line, as an installer would.
    result = subprocess.run(
        [_script("healthhub-agent"), "pin-hash"],
        input=pin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]


class Practice:
    def __init__(self, root: Path, interval_s: float) -> None:
        self.root = root
        self.fleet = FleetLayout(root / "fleet")
        self.store = root / "practice-store.sqlite"
        self.logs = root / "logs"
        self.interval_s = interval_s
        self.children: list[Child] = []
        self.dashboard_port = _free_port()
        self.dashboard_password = secrets.token_urlsafe(12)

    def provision(self) -> None:
        provision = _script("healthhub-provision")
        self.logs.mkdir(parents=True, exist_ok=True)
        port = str(_free_port())
        fleet = str(self.fleet.root)
        subprocess.run(
            [provision, "init", fleet, "--name", "Demo PCN", "--broker-port", port],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for device, role in DEVICES:
            subprocess.run(
                [
                    provision,
                    "device",
                    fleet,
                    "--site",
                    SITE,
                    "--id",
                    device,
                    "--role",
                    role,
                    "--simulate",
                    "--sim-interval",
                    str(self.interval_s),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            # The demo watches telemetry for its progress display: send it every second.
            config_path = self.fleet.device_dir(device) / "device.yaml"
            config = yaml.safe_load(config_path.read_text())
            config["telemetry"] = {"interval_s": 1}
            if role == "kiosk":
                config["ui"] = {"staff_pin_hash": _pin_hash(DEMO_STAFF_PIN)}
                config["peripherals"] += KIOSK_PARTS
            lines = config_path.read_text().splitlines(keepends=True)
            header = "".join(line for line in lines if line.startswith("#"))
            config_path.write_text(header + yaml.safe_dump(config, sort_keys=False))
        subprocess.run([provision, "broker", fleet], check=True, stdout=subprocess.DEVNULL)
        StaffAccounts(self.fleet).add(
            DEMO_DASHBOARD_USER, "fleet_admin", [], self.dashboard_password
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.children.append(Child(name, process, log))

    def start(self) -> None:
        fleet = str(self.fleet.root)
        self._spawn("broker", [_script("healthhub-provision"), "broker", fleet, "--run"])
        self._wait_for_broker()
        self._spawn(
            "bridge",
            [_script("healthhub-fleet"), "bridge", "--fleet", fleet, "--store", str(self.store)],
        )
        for device, _ in DEVICES:
            config = self.fleet.device_dir(device) / "device.yaml"
            self._spawn(device, [_script("healthhub-agent"), "--config", str(config)])
        deadline = time.monotonic() + 15
        while not self.store.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the dashboard reads the store the bridge makes
        self._spawn(
            "dashboard",
            [_script("healthhub-fleet"), "serve", "--fleet", fleet, "--store", str(self.store),
             "--port", str(self.dashboard_port)],
        )  # fmt: skip

    def practice_side(self) -> list[str]:
        """What the practice makes of the run: the report, and the FHIR Bundles of what
        patients asked to file (the simulated wall units' readings are anonymous)."""
        fleet, store = [_script("healthhub-fleet")], str(self.store)
        done = []
        report = subprocess.run(
            [*fleet, "report", "--store", store, "--out", str(self.root / "report.html"),
             "--fleet", str(self.fleet.root)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if report.returncode == 0:
            done.append(f"utilisation report: {self.root / 'report.html'} (and report.csv)")
        fhir = subprocess.run(
            [*fleet, "fhir", "--store", store, "--out", str(self.root / "fhir")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if fhir.returncode == 0:
            counts = json.loads(fhir.stdout)
            done.append(
                f"FHIR bundles: {self.root / 'fhir'} ({counts['bundles']} bundle(s); "
                f"{counts['anonymous_readings']} anonymous readings counted, not filed)"
            )
        return done

    def kiosk_config(self) -> Path:
        return self.fleet.device_dir(DEVICES[0][0]) / "device.yaml"

    def open_kiosk(self) -> None:
        """The patient UI of the demo's kiosk, in a window (a display is needed)."""
        config = str(self.kiosk_config())
        self._spawn("kiosk-ui", [_script("healthhub-kiosk"), "--config", config, "--windowed"])

    def _wait_for_broker(self, timeout_s: float = 15.0) -> None:
        port = int(yaml.safe_load(self.fleet.manifest.read_text())["broker"]["port"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            if self.children[0].process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"healthhub-demo: the broker did not start; see {self.logs}/broker.log")

    def dead(self) -> list[str]:
        return [c.name for c in self.children if c.process.poll() is not None]

    def stop(self) -> None:
        # Agents first (they publish "offline"), then the bridge, then the broker.
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    child.process.wait(10)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
            child.log.close()

    def agent_status(self, device: str) -> dict[str, Any]:
        """What the stopped agent's own state says (``healthhub-agent status --json``)."""
        config = self.fleet.device_dir(device) / "device.yaml"
        result = subprocess.run(
            [_script("healthhub-agent"), "status", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        return dict(json.loads(result.stdout)) if result.returncode == 0 else {}

    def filed(self) -> dict[str, tuple[int, int, int]]:
        """Per device: (messages filed, distinct seqs, highest seq) in the practice store.

        Every stream counts: a patient at the kiosk adds alerts, consent and usage messages
        to the same numbered sequence as the readings.
        """
        if not self.store.exists():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT device, count(*), count(DISTINCT seq), max(seq) FROM envelopes"
                " GROUP BY device"
            ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _row(device: str, telemetry: dict[str, Any] | None, status: dict[str, Any] | None) -> str:
    t = telemetry or {}
    outbox, delivery = t.get("outbox", {}), t.get("delivery", {})
    state = (status or {}).get("state", "-")
    link = t.get("link", {}).get("state", "-")
    return (
        f"{device:<10}{state:<9}{link:<13}{outbox.get('last_seq', '-'):>7}"
        f"{delivery.get('delivered_seq', '-'):>11}{outbox.get('confirmed_seq', '-'):>11}"
        f"{outbox.get('depth', '-'):>8}"
    )


HEADER = (
    f"{'device':<10}{'status':<9}{'link':<13}{'taken':>7}"
    f"{'delivered':>11}{'confirmed':>11}{'outbox':>8}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="healthhub-demo",
        description="Run a simulated practice (broker, bridge, one kiosk, two wall tablets) "
        "and show readings taken / delivered / confirmed per device until Ctrl-C.",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--no-kiosk", action="store_true", help="do not open the kiosk's patient UI window"
    )
    parser.add_argument("--dir", type=Path, help="keep the fleet here (default: a temp folder)")
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between simulated readings per peripheral (default 1)",
    )
    args = parser.parse_args(argv)

    root = args.dir or Path(tempfile.mkdtemp(prefix="healthhub-demo-"))
    if args.dir and (root / "fleet").exists():
        print(f"healthhub-demo: {root}/fleet exists; choose an empty --dir", file=sys.stderr)
        return 2
    root.mkdir(parents=True, exist_ok=True)
    practice = Practice(root, args.interval)
    print(f"Health Hub demo in {root}")
    practice.provision()
    print("fleet created: CA, broker certificate, signing and ingest keys, 3 devices")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    practice.start()
    try:  # what the kiosk offers beyond measuring: forms, pages, services, support
        pushed = content_push.push(practice.fleet, Scope("site", SITE), STARTER_CONTENT)
        print(f"starter content pushed to {SITE} (version {pushed.version})")
    except (HealthHubError, OSError) as exc:
        print(f"healthhub-demo: starter content not pushed: {exc}", file=sys.stderr)
    if args.no_kiosk:
        pass
    elif os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        practice.open_kiosk()
        print(f"kiosk UI open in a window (staff: hold the top-left corner; PIN {DEMO_STAFF_PIN})")
    else:
        print(
            "no display here, so the kiosk UI is not shown; on a desktop run\n"
            f"  healthhub-kiosk --config {practice.kiosk_config()} --windowed\n"
            "or headless: xvfb-run healthhub-kiosk --config ... --windowed"
        )
    print(
        f"practice dashboard: http://127.0.0.1:{practice.dashboard_port}/ "
        f"(user {DEMO_DASHBOARD_USER}, password {practice.dashboard_password})"
    )
    watcher = FleetWatcher(practice.fleet)
    try:
        watcher.start()
    except ConsoleError as exc:
        practice.stop()
        print(f"healthhub-demo: {exc}; logs in {practice.logs}", file=sys.stderr)
        return 1
    try:
        failed = _watch(practice, watcher, args.duration, lambda: stopping)
    finally:
        watcher.stop()
        practice.stop()
    return _summary(practice, failed, root)


def _watch(
    practice: Practice,
    watcher: FleetWatcher,
    duration: float | None,
    stopping: Callable[[], bool],
) -> list[str]:
    """Show progress until stopped; returns the processes that died."""
    started = time.monotonic()
    tty = sys.stdout.isatty()
    last_print = -10.0
    failed: list[str] = []
    while not stopping():
        elapsed = time.monotonic() - started
        if duration is not None and elapsed >= duration:
            break
        failed = practice.dead()
        if failed:
            break
        if tty or elapsed - last_print >= 5:
            last_print = elapsed
            status, telemetry = watcher.view.snapshot()
            lines = [HEADER] + [_row(d, telemetry.get(d), status.get(d)) for d, _ in DEVICES]
            stamp = f"-- {elapsed:5.0f} s (Ctrl-C to stop) --"
            clear = "\x1b[H\x1b[J" if tty else ""
            sys.stdout.write(clear + stamp + "\n" + "\n".join(lines) + "\n")
            sys.stdout.flush()
        time.sleep(1.0)
    return failed


def _summary(practice: Practice, failed: list[str], root: Path) -> int:
    print("\nSummary")
    filed = practice.filed()
    ok = not failed
    for device, _ in DEVICES:
        status = practice.agent_status(device)
        taken = status.get("last_seq_taken", 0)
        waiting = status.get("outbox", {}).get("depth", "?")
        count, distinct, highest = filed.get(device, (0, 0, 0))
        exact = count == distinct == (highest or 0) and count <= taken
        ok = ok and exact
        verdict = "no gaps, no duplicates" if exact else "GAPS OR DUPLICATES"
        print(
            f"  {device}: taken {taken}, filed at the practice {count} "
            f"(seq 1..{highest or 0}, {verdict}), {waiting} waiting in the outbox"
        )
    if failed:
        print(f"  a process stopped unexpectedly: {', '.join(failed)}; logs in {practice.logs}")
    for line in practice.practice_side():
        print(f"  {line}")
    print(f"  fleet, store and logs kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
