"""A real PostgreSQL server for tests and benches: its own cluster, port and socket.

``PostgresServer`` runs Debian's ``initdb`` in a temporary folder and starts ``postgres``
on a free loopback TCP port, its Unix socket in that folder, with ``fsync=on`` (the
default, set explicitly: durability is what the store's tests are about). It makes a role
``healthhub`` with a random password and a database ``healthhub`` it owns; ``.url`` names
it (``postgresql://healthhub:PASSWORD@127.0.0.1:PORT/healthhub``), ``create_database()``
makes more (one per test), ``restart()`` stops it cleanly and starts it again on the same
port, and leaving the ``with`` block stops it (SIGQUIT, then SIGKILL, if a clean stop hangs)
and removes the folder.

PostgreSQL refuses to run as root. As root (tests run as root on these machines) the
cluster belongs to the ``postgres`` user that Debian's package makes, and its programs run
under ``setpriv`` as that user (which also stops the server if the process that started it
dies without stopping it); the folder is in the system temp dir, not under pytest's
``tmp_path``, which only root may enter. Debian's package also starts a cluster of its own
on port 5432: it is not used.

Kept free of pytest so that ``bench/`` can use it too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from processes import free_port

INSTALL = "run `make setup` (apt-get install postgresql)"
ROLE = "healthhub"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed (``/usr/lib/postgresql/N/bin``)."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(f"PostgreSQL server (initdb) not found: {INSTALL}")
    return found[-1]


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (see the module docstring)."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="healthhub-pg-", dir=base_dir))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self._process: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise RuntimeError("setpriv not found: apt-get install util-linux")
        # The server stops (fast shutdown) if the process that started it dies unannounced.
        self._server_prefix = [setpriv, "--pdeathsig=INT"]
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    f"running as root and there is no `postgres` user to run PostgreSQL: {INSTALL}"
                ) from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_user = [setpriv, "--reuid=postgres", "--regid=postgres", "--init-groups"]
            self._server_prefix = [*self._as_user, "--pdeathsig=INT"]

    @property
    def url(self) -> str:
        """The ``healthhub`` database, as the ``healthhub`` role, over TCP with a password."""
        return self.url_for(ROLE)

    def url_for(self, database: str, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{ROLE}:{secret}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PostgresServer:
        try:
            self._initdb()
            self.start()
            with self.admin() as db:
                db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'")
            self.create_database(ROLE)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            [*self._as_user, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr[-2000:]}")

    def _initdb(self) -> None:
        # --no-sync: a crash would take the throwaway cluster with it; the server runs with
        # fsync=on. No locale: text sorts bytewise, as in SQLite.
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--no-locale",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )

    def start(self) -> None:
        """Start the server (on :attr:`port`) and wait until it takes connections."""
        if self._process is not None and self._process.poll() is None:
            return
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "on",
            "synchronous_commit": "on",
            "max_connections": "50",
            "shared_buffers": "32MB",
        }
        argv = [str(self.bin / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*self._server_prefix, "--", *argv], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"postgres exited at start:\n{self.log_tail()}")
            try:
                with self.admin():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"postgres did not take connections:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """A clean ("fast") shutdown: sessions end, the server checkpoints and exits."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise RuntimeError(f"postgres did not stop cleanly:\n{self.log_tail()}") from None

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.kill()
            shutil.rmtree(self.root, ignore_errors=True)

    def admin(self) -> psycopg.Connection[Any]:
        """The superuser on the ``postgres`` database over the Unix socket (autocommit)."""
        return psycopg.connect(
            host=str(self.root),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def create_database(self, name: str) -> str:
        """A new empty database owned by the ``healthhub`` role; its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        with self.admin() as db:
            db.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as db:
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"
