"""Making the running practice broker act on a revocation, and the ``broker --run`` supervisor.

What mosquitto 2.0.11 does, measured (``tests/provisioning/test_revoke.py``,
``tests/system/test_revocation.py``):

- SIGHUP re-reads the ``crlfile`` and the ACL. A handshake with a revoked certificate is
  refused from then on, and a connection that is already open loses every grant the ACL
  took away (its publishes are refused, nothing more is delivered to it) but **stays
  connected**: a CRL is checked only at the handshake.
- A ``crlfile`` line added to mosquitto.conf is *not* taken up by SIGHUP: it needs a start.

So revoking a device restarts the broker: that closes every connection, and each client
makes a new handshake, which the revoked certificate fails. Persistence keeps sessions,
queued messages and retained messages across the restart (SIGTERM makes mosquitto save its
database), and the devices reconnect with backoff and jitter. Renewing a certificate needs
only SIGHUP: the device has already moved to its new certificate.

Only a broker run by ``healthhub-provision broker --run`` (:func:`run_supervised`) can be
restarted from here: that process writes ``broker/runner.pid`` and restarts mosquitto on
SIGUSR1. A broker started any other way gets SIGHUP (if its pid is in
``broker/mosquitto.pid``) and the command says that a restart is still needed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_config import (
    configured_bind,
    names_crlfile,
    refresh_acl,
    write_broker_config,
)
from healthhub.provisioning.broker_process import (
    BrokerProcess,
    listener_address,
    port_in_use,
    reload_acl,
    running_pid,
)
from healthhub.provisioning.errors import ProvisioningError

RUNNER_PID_FILE = "runner.pid"
#: How long a restart of mosquitto by its supervisor may take before we say so.
RESTART_TIMEOUT_S = 30.0
#: Asks ``broker --run`` to restart mosquitto.
RESTART_SIGNAL = signal.SIGUSR1


class BrokerRestartFailed(ProvisioningError):
    """The broker's supervisor was asked to restart mosquitto and it did not come back."""


@dataclass(frozen=True)
class BrokerAction:
    """What was done to the broker: ``restarted``, ``reloaded``, ``not running`` or
    ``not configured``; ``note`` tells people what, if anything, is left for them to do."""

    done: str
    note: str


def runner_pid_file(layout: FleetLayout) -> Path:
    return layout.broker_dir / RUNNER_PID_FILE


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def supervisor_pid(layout: FleetLayout) -> int | None:
    """The pid of the ``broker --run`` process supervising this fleet's running mosquitto:
    the pid in ``broker/runner.pid``, alive, and the parent of that mosquitto."""
    broker = running_pid(layout)
    if broker is None:
        return None
    try:
        runner = int(runner_pid_file(layout).read_text().strip())
    except (OSError, ValueError):
        return None
    return runner if _parent_of(broker) == runner else None


def _listening(conf: Path) -> bool:
    return port_in_use(*listener_address(conf))


def request_restart(layout: FleetLayout, *, timeout: float = RESTART_TIMEOUT_S) -> bool:
    """Ask the supervisor to restart mosquitto and wait until a new one listens.

    False if no supervised broker runs; :class:`BrokerRestartFailed` if it does not come back.
    """
    runner = supervisor_pid(layout)
    old = running_pid(layout)
    if runner is None or old is None:
        return False
    os.kill(runner, RESTART_SIGNAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = running_pid(layout)
        if new is not None and new != old and _listening(layout.broker_conf):
            return True
        time.sleep(0.05)
    raise BrokerRestartFailed(
        f"asked `healthhub-provision broker --run` (pid {runner}) to restart mosquitto; it is "
        f"not listening again after {timeout:g} s: look at that command's output"
    )


def apply_revocation(layout: FleetLayout, *, cut_sessions: bool) -> BrokerAction:
    """Make the broker use the current CRL and ACL.

    ``cut_sessions``: also end connections that are already open (a revoked device's), which
    takes a restart. A broker configuration written before revocation existed is rewritten
    (same listener) to use the CRL, which also takes a restart.
    """
    conf = layout.broker_conf
    if not conf.exists():
        return BrokerAction(
            "not configured",
            f"no broker configuration yet: `healthhub-provision broker {layout.root}` writes "
            "one that uses the revocation list",
        )
    needs_start = not names_crlfile(conf)
    if needs_start:
        write_broker_config(layout, bind=configured_bind(conf))
    else:
        refresh_acl(layout)
    pid = running_pid(layout)
    if pid is None:
        return BrokerAction(
            "not running",
            "no broker started by `healthhub-provision broker --run` is running: a broker "
            "started otherwise must be restarted (or sent SIGHUP) to use the revocation list",
        )
    if cut_sessions or needs_start:
        if request_restart(layout):
            return BrokerAction("restarted", "open connections were closed; clients reconnect")
        reload_acl(layout)
        why = "to take up its new crlfile" if needs_start else "to close open connections"
        return BrokerAction(
            "reloaded",
            f"the broker (pid {pid}) re-read its ACL and revocation list for new connections, "
            f"but it is not run by `healthhub-provision broker --run`: restart it {why}",
        )
    reload_acl(layout)
    return BrokerAction("reloaded", "new connections are checked against the revocation list")


def run_supervised(broker: BrokerProcess) -> int:
    """Run mosquitto in the foreground until SIGTERM or SIGINT (forwarded to it); restart it
    on SIGUSR1 (:func:`request_restart`). Returns mosquitto's exit code, shell-style."""
    stopping: list[int] = []
    restarts: list[int] = []
    waiting = [False]  # SIGTERM is sent to a mosquitto that runs, never to one starting

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        broker.send_signal(signum)

    def restart(signum: int, frame: FrameType | None) -> None:
        restarts.append(signum)
        if waiting[0] and not stopping:
            broker.send_signal(signal.SIGTERM)

    handlers = {signal.SIGTERM: forward, signal.SIGINT: forward, RESTART_SIGNAL: restart}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    runner_file = runner_pid_file(broker.layout)
    try:
        broker.start()
        runner_file.write_text(f"{os.getpid()}\n")
        if stopping:  # asked to stop while it was starting
            broker.send_signal(stopping[0])
        print(
            f"mosquitto running on port {broker.port} (pid {broker.pid}); Ctrl-C stops it",
            flush=True,
        )
        while True:
            waiting[0] = True
            if restarts and not stopping:  # asked while it was starting
                broker.send_signal(signal.SIGTERM)
            code = broker.wait()
            waiting[0] = False
            if stopping or not restarts:
                break
            restarts.clear()
            broker.start()
            print(f"mosquitto restarted (pid {broker.pid})", flush=True)
    finally:  # main() may run inside another program (the tests)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        with contextlib.suppress(OSError, ValueError):
            if int(runner_file.read_text()) == os.getpid():
                runner_file.unlink()
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
