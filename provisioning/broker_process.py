"""Running the practice broker: mosquitto with a fleet's generated configuration.

Used by ``healthhub-provision broker --run``, the demo, the tests and the
benchmarks, so each runs the broker the same way. While it runs, its pid is in
``broker/mosquitto.pid`` so that an enrolment can ask it to reload the ACL
(SIGHUP), whichever process started it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning.errors import BrokerNotInstalled, BrokerStartError, ProvisioningError

PID_FILE = "mosquitto.pid"
#: Where Debian's package puts the broker when /usr/sbin is not on PATH.
FALLBACK_BINARIES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
#: mosquitto logs "mosquitto version 2.0.11 running" once its listeners are open
#: and its signal handlers set (a SIGHUP before that would end it).
READY_LINE = re.compile(r"mosquitto version \S+ running")
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def mosquitto_binary() -> str:
    """Path of the mosquitto executable; :class:`BrokerNotInstalled` names the install step."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in FALLBACK_BINARIES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise BrokerNotInstalled


def pid_file(layout: FleetLayout) -> Path:
    return layout.broker_dir / PID_FILE


def _is_fleet_broker(pid: int, layout: FleetLayout) -> bool:
    """Whether ``pid`` is mosquitto running this fleet's config, not a recycled pid."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False  # gone
    except OSError:
        return True  # no /proc to ask (not Linux): trust the pid file
    names = [os.fsdecode(arg) for arg in argv]
    return bool(names) and Path(names[0]).name == "mosquitto" and str(layout.broker_conf) in names


def running_pid(layout: FleetLayout) -> int | None:
    """The pid of this fleet's broker, if one started by :class:`BrokerProcess` is alive."""
    try:
        pid = int(pid_file(layout).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if _is_fleet_broker(pid, layout) else None


def reload_acl(layout: FleetLayout) -> bool:
    """Ask this fleet's running broker to re-read its config and ACL (SIGHUP).

    False if none is running. The reload is asynchronous: mosquitto logs
    "Reloading config." when it does it.
    """
    pid = running_pid(layout)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def listener_address(conf: Path) -> tuple[str, int]:
    """(host to probe, port) of the first ``listener`` line of a mosquitto.conf."""
    for line in conf.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "listener":
            bind = words[2] if len(words) > 2 else ""
            return _WILDCARDS.get(bind, bind), int(words[1])
    raise ProvisioningError(
        f"{conf} has no listener line; regenerate it with `healthhub-provision broker`"
    )


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As mosquitto does: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class BrokerProcess:
    """mosquitto for one fleet folder, as a child process.

    ``log_path``: mosquitto's output is appended there (and its tail is in
    every start error); ``None`` leaves it on this process's stdout/stderr.
    """

    def __init__(self, layout: FleetLayout, log_path: Path | None = None) -> None:
        self.layout = layout
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        if self.layout.broker_conf.exists():
            return listener_address(self.layout.broker_conf)[1]
        return load_manifest(self.layout).broker_port

    @property
    def running(self) -> bool:
        return self._alive()

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto; return once it is alive, listening, and has logged that it runs.

        Raises :class:`BrokerNotInstalled`, or :class:`BrokerStartError` (with
        the tail of mosquitto's log) if it exits or is not listening in time.
        """
        if self.running:
            raise ProvisioningError(f"mosquitto for {self.layout.root} is already running")
        conf = self.layout.broker_conf
        if not conf.exists():
            raise ProvisioningError(
                f"{conf} missing: run `healthhub-provision broker {self.layout.root}` first"
            )
        binary = mosquitto_binary()
        other = running_pid(self.layout)
        if other is not None:
            raise BrokerStartError(
                f"this fleet's broker is already running (pid {other}); stop it first"
            )
        host, port = listener_address(conf)
        if port_in_use(host, port):
            raise BrokerStartError(
                f"port {port} on {host} is in use by another process: stop it, or make a fleet "
                "with another --broker-port"
            )
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the broker's life
            self._log_offset = self._log.tell()
        self._process = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log is not None else None,
        )
        pid_file(self.layout).write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout
        # The port was free before the start, so a listener on it now is mosquitto's.
        # A bind probe sees it without a connection (a TCP probe would put a
        # "Client connection ... failed" line in the broker's log at every start).
        while time.monotonic() < deadline and self._alive():
            if self._logged_ready() and port_in_use(host, port) and self._alive():
                return
            time.sleep(0.02)
        died = not self._alive()
        self.kill()
        what = "exited" if died else f"was not ready on {host}:{port} within {timeout:g} s"
        raise BrokerStartError(f"mosquitto {what} (config {conf}).\n{self._log_excerpt()}")

    def _logged_ready(self) -> bool:
        if self.log_path is None:
            return True  # its output is not ours to read; the port decides
        return READY_LINE.search(self._log_since_start()) is not None

    def _log_since_start(self) -> str:
        if self.log_path is None:
            return ""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last lines mosquitto logged since it was last started."""
        return "\n".join(self._log_since_start().splitlines()[-lines:])

    def _log_excerpt(self) -> str:
        if self.log_path is None:
            return "See mosquitto's output above."
        return f"Last lines of {self.log_path}:\n{self.log_tail() or '(nothing logged)'}"

    def send_signal(self, signum: int) -> None:
        if self._process is not None and self.running:
            self._process.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (mosquitto saves its database and exits) and wait; SIGKILL if it hangs.

        Returns mosquitto's exit code (None if it was never started).
        """
        if self._process is None:
            return None
        self.send_signal(signal.SIGTERM)
        self.send_signal(signal.SIGCONT)  # a paused broker handles SIGTERM only once resumed
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._closed()
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL: the broker dies without saving (what a power cut does)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._closed()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung broker)."""
        self.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.send_signal(signal.SIGCONT)

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.start(timeout)

    def wait(self) -> int:
        """Wait for mosquitto to exit (``broker --run``); returns its exit code."""
        if self._process is None:
            raise ProvisioningError("mosquitto was not started")
        code = self._process.wait()
        self._closed()
        return code

    def _closed(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if (
                self._process is not None
                and int(pid_file(self.layout).read_text()) == self._process.pid
            ):
                pid_file(self.layout).unlink()
        if self._log is not None:
            self._log.close()
            self._log = None
