"""Running the practice broker: mosquitto with a fleet's generated configuration.

Used by ``healthhub-provision broker --run``, the demo, the tests and the
benchmarks, so each runs the broker the same way. While it runs, its pid is in
``broker/mosquitto.pid`` so that an enrolment can ask it to reload the ACL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning.errors import BrokerNotInstalled, ProvisioningError

PID_FILE = "mosquitto.pid"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if found is None:
        raise BrokerNotInstalled
    return found


def pid_file(layout: FleetLayout) -> Path:
    return layout.broker_dir / PID_FILE


def running_pid(layout: FleetLayout) -> int | None:
    """The pid of this fleet's broker if one started by us is alive."""
    try:
        pid = int(pid_file(layout).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def reload_acl(layout: FleetLayout) -> bool:
    """Ask a running broker to reload its ACL (SIGHUP); False if none is running."""
    pid = running_pid(layout)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


class BrokerProcess:
    def __init__(self, layout: FleetLayout, log_path: Path | None = None) -> None:
        self.layout = layout
        self.log_path = log_path or layout.broker_dir / "mosquitto.log"
        self.port = load_manifest(layout).broker_port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if not self.layout.broker_conf.exists():
            raise ProvisioningError(
                f"{self.layout.broker_conf} missing: run `healthhub-provision broker "
                f"{self.layout.root}` first"
            )
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept for the broker's life
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.layout.broker_conf)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        pid_file(self.layout).write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise ProvisioningError(f"mosquitto did not start on port {self.port}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _signal(self, signum: int) -> None:
        if self.running and self._process is not None:
            self._process.send_signal(signum)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._closed()

    def kill(self) -> None:
        """SIGKILL: the broker dies without saving (what a power cut does)."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._closed()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _closed(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            pid_file(self.layout).unlink()
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait(self) -> int:
        """Wait for the broker to exit (``--run``); returns its exit code."""
        assert self._process is not None
        code = self._process.wait()
        self._closed()
        return code
