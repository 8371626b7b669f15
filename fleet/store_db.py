"""The database under the practice store: one small interface, SQLite behind it.

:class:`~healthhub.fleet.store.PracticeStore` speaks only this interface and a portable
subset of SQL (``?`` placeholders, ``INSERT ... ON CONFLICT``, no ``INSERT OR IGNORE``,
no ``executescript``), so another database can stand behind it with the same schema and
migrations (:mod:`healthhub.fleet.store_schema`).

A write is one :meth:`Database.transaction` that takes the write lock at its start
(SQLite ``BEGIN IMMEDIATE``): what it reads inside (a device's confirmed seq, the seqs
held) cannot change under it, so several bridge processes can file into one store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from healthhub.protocol.errors import HealthHubError


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


class SqliteDatabase:
    """SQLite in WAL mode with ``synchronous=FULL``: a commit survives power loss."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit BEGIN; transactions are ours (BEGIN IMMEDIATE).
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"practice store {self.path} cannot be opened: {exc}") from None

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


def open_database(target: str | Path) -> Database:
    """The database a ``--store`` names: a SQLite file path (a URL scheme comes later)."""
    return SqliteDatabase(Path(target))
