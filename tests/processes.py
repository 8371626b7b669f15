"""Running the real parts as processes in tests: agents, the bridge, CLI commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import IO, Any

import yaml

BIN = Path(sys.executable).parent
#: The broker fixture's log, in the test's tmp_path (shown when a test fails).
BROKER_LOG = "mosquitto.log"
#: The ``enrol`` fixture's type: enrol(device, site=..., ...) -> the device.yaml path
Enrol = Callable[..., Path]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} not installed in the venv: run `make setup`"
    return str(path)


def run_cli(
    name: str, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [script(name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{name} {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until ``predicate`` is truthy; fail naming ``what`` (no wall-clock assertions)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def configure(config: Path, **sections: Any) -> None:
    """Merge settings into a device.yaml (section -> dict, or a top-level value)."""
    data = yaml.safe_load(config.read_text())
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    config.write_text(yaml.safe_dump(data, sort_keys=False))


#: Every service a test started, so that the conftest can reap what a failed test left.
STARTED: list[Service] = []


class Service:
    """A long-running Health Hub process with its log kept for the test report."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Service:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        env = {**os.environ, **(self.env or {})}
        STARTED.append(self)
        self.process = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._close()
        return code

    def kill(self) -> None:
        """kill -9: no clean-up, no offline status (the Last Will speaks)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def agent(
    config: Path, log_dir: Path, name: str | None = None, env: dict[str, str] | None = None
) -> Service:
    return Service(
        name or f"agent-{config.parent.name}",
        [script("healthhub-agent"), "--config", str(config)],
        log_dir,
        env,
    )


def bridge(
    fleet_root: Path,
    store: Path,
    log_dir: Path,
    *,
    share: str | None = None,
    instance: str | None = None,
    options: tuple[str, ...] = (),
) -> Service:
    """The bridge; with ``share`` one instance of a shared group (its log is
    ``bridge-INSTANCE.log``); ``options`` are more command-line options."""
    argv = [script("healthhub-fleet"), "bridge", "--fleet", str(fleet_root), "--store", str(store)]
    if share is not None:
        argv += ["--share", share]
    if instance is not None:
        argv += ["--instance", instance]
    name = "bridge" if instance is None else f"bridge-{instance}"
    return Service(name, [*argv, *options], log_dir)


def agent_status(config: Path) -> dict[str, Any]:
    result = run_cli("healthhub-agent", "status", "--config", str(config), "--json")
    return dict(json.loads(result.stdout))


def connected(config: Path) -> bool:
    """The agent runs and is connected to the broker (False before its database exists)."""
    if not (config.parent / "state" / "outbox.sqlite").exists():
        return False
    return bool(agent_status(config)["link"]["state"] == "connected")


def taken(config: Path) -> int:
    """Readings the agent has committed so far (0 before its database exists)."""
    if not (config.parent / "state" / "outbox.sqlite").exists():
        return 0
    return int(agent_status(config)["last_seq_taken"])


def filed(store: Path, device: str) -> list[tuple[int, str]]:
    """(seq, id) of every reading the practice store holds for ``device``, in seq order."""
    return rows(
        store,
        "SELECT seq, id FROM envelopes WHERE device = ? AND stream = 'readings' ORDER BY seq",
        (device,),
    )


def rejections(store: Path) -> dict[str, int]:
    return dict(rows(store, "SELECT reason, count FROM rejections"))


def rows(database: Path, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Rows of a SQLite database another process writes (the practice store, an outbox),
    read-only; none while it is still being created (the file exists a moment before its
    tables do)."""
    if not database.exists():
        return []
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA busy_timeout = 5000")
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


def configure_kiosk(config: Path, script: list[Any], *, measure_s: float = 0.2, **ui: Any) -> None:
    """A kiosk's peripherals as a patient meets them: a BP monitor that measures when asked
    and plays ``script`` (values, impossible values, ``disconnect``), and a scale; ``ui``
    settings merged into ``ui:``."""
    configure(
        config,
        peripherals=[
            {
                "name": "bp",
                "driver": "blood_pressure",
                "backend": "simulator",
                "trigger": "request",
                "measure_s": measure_s,
                "script": script,
            },
            {"name": "scale", "driver": "scale", "backend": "simulator", "trigger": "request"},
        ],
        ui=ui,
    )


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root``: mode, owner, size, modification time, link target (to show
    that a step changed nothing at all)."""
    found: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            info = path.lstat()
            link = os.readlink(path) if path.is_symlink() else None
            found[str(path.relative_to(root))] = (
                info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns, link
            )  # fmt: skip
    return found
