"""The database under the practice store: one small interface, SQLite or PostgreSQL behind it.

:class:`~healthhub.fleet.store.PracticeStore` speaks only this interface and a portable
subset of SQL (``?`` placeholders, ``INSERT ... ON CONFLICT``, no ``INSERT OR IGNORE``,
no ``executescript``), so either database stands behind it with the same schema and
migrations (:mod:`healthhub.fleet.store_schema`). A ``--store`` is a SQLite file path or a
``postgresql://`` URL (:func:`open_database`); PostgreSQL is the PostgreSQL half
(:mod:`healthhub.fleet.store_postgres`).

A write is one :meth:`Database.transaction` that takes the store's write lock at its start
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-level advisory lock): what it reads
inside (a device's confirmed seq, the seqs held) cannot change under it, so several bridge
processes can file into one store. Reads outside a transaction never wait for it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from healthhub.protocol.errors import HealthHubError

#: What a ``--store`` URL starts with; anything else is a SQLite file path.
URL_SCHEMES = ("postgresql://", "postgres://")


class StoreError(HealthHubError):
    """The practice store cannot be opened or written."""


class Rows(Protocol):
    """What a query gives back (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    #: "sqlite" or "postgresql": what a migration may need to know.
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def transaction(self) -> Any:
        """A context manager: one write transaction holding the write lock."""
        ...

    def close(self) -> None: ...


#: How long a SQLite write waits for another writer's lock.
BUSY_TIMEOUT_MS = 10_000


class SqliteDatabase:
    """SQLite in WAL mode with ``synchronous=FULL``: a commit survives power loss."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit BEGIN; transactions are ours (BEGIN IMMEDIATE).
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._wal()
            self._db.execute("PRAGMA synchronous = FULL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"practice store {self.path} cannot be opened: {exc}") from None

    def _wal(self) -> None:
        """Put the file in WAL mode. SQLite answers "database is locked" at once, without
        its busy handler, while another connection holds the lock the switch needs: two
        bridges starting together on a new store. So wait for it as a write would."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        try:
            return self._db.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise StoreError(f"practice store {self.path}: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.rollback()
            raise StoreError(f"practice store {self.path}: commit failed: {exc}") from None

    def close(self) -> None:
        self._db.close()


def is_url(target: str | Path) -> TypeGuard[str]:
    """Whether a ``--store`` value names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def store_target(value: str) -> str | Path:
    """A ``--store`` value as given (argparse ``type=``): a URL stays a ``str`` (a ``Path``
    would fold its ``//``), anything else is a SQLite file path."""
    return value if is_url(value) else Path(value)


def redact_url(url: str) -> str:
    """``url`` fit to print: ``postgresql://user:***@host/db`` (and ``password=***``)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken [IPv6] host: show none of it
        return url.split("://", 1)[0] + "://(unreadable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hosts}" if has_password else f"{user}@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*/:,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe(target: str | Path) -> str:
    """A store's name for messages and logs: a file path, or its URL without the password."""
    return redact_url(target) if is_url(target) else str(target)


def open_database(target: str | Path) -> Database:
    """The database a ``--store`` names: a ``postgresql://`` (or ``postgres://``) URL given as
    a ``str``, or else a SQLite file path."""
    if is_url(target):
        from healthhub.fleet.store_postgres import PostgresDatabase

        return PostgresDatabase(target)
    if str(target).startswith(("postgresql:/", "postgres:/")):
        # Path("postgresql://...") reads as a folder "postgresql:": never make that file.
        raise StoreError(
            f"practice store {describe(str(target).replace(':/', '://', 1))} was given as a "
            "file path: pass a URL as a str (store_db.store_target)"
        )
    return SqliteDatabase(Path(target))


def store_exists(target: str | Path) -> bool:
    """Whether ``target`` holds a practice store already: the SQLite file exists, or the
    PostgreSQL database (which must exist) has the store's schema."""
    if not is_url(target):
        return Path(target).is_file()
    db = open_database(target)
    try:
        row = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        return bool(row[0])
    finally:
        db.close()
