"""The practice store on PostgreSQL (``--store postgresql://user@host/db``), via psycopg 3.

Same interface and SQL as :class:`~healthhub.fleet.store_db.SqliteDatabase`: the store's
``?`` placeholders become psycopg's ``%s`` (:func:`to_pyformat`, which leaves string
literals, quoted names, comments and dollar-quoted text alone).

**Writers take turns, as with SQLite.** Every :meth:`PostgresDatabase.transaction` is
``BEGIN ISOLATION LEVEL READ COMMITTED`` followed by ``pg_advisory_xact_lock(WRITE_LOCK)``:
one store-wide write lock, held until commit or rollback, the equivalent of SQLite's
``BEGIN IMMEDIATE``. ``PracticeStore.file()`` reads a device's ``progress`` row and the seqs
held, then upserts ``progress``; with the lock taken first, every statement after it sees
everything the previous holder committed (READ COMMITTED takes a snapshot per statement,
after the wait; REPEATABLE READ would have taken it before the wait, stale). Why not the
alternatives: SERIALIZABLE needs the caller to re-run a failed transaction, and a
``with`` block cannot be re-run from here; ``LOCK TABLE progress`` does not exist before the
first migration, while the advisory lock also serialises :func:`~healthhub.fleet.store_schema.
migrate` (two processes creating ``schema_version`` at once would otherwise collide in
PostgreSQL's catalogue); a lock per device would let writers of different devices overlap,
but the store calls the database generically and one bridge batch spans many devices. Reads
outside a transaction take no lock and never wait. The lock is per database, so two stores
on one server do not share it.

The connection is in autocommit mode at the driver, so no statement opens a transaction
behind our back: a read outside :meth:`~PostgresDatabase.transaction` is its own
transaction and ends at once (an open one would sit "idle in transaction" between a
bridge's batches, holding back VACUUM and blocking migrations), and writes commit only at
the end of a ``transaction()``, as with SQLite's ``isolation_level=None``.

A bridge runs for months and PostgreSQL restarts happen: a connection found broken is
replaced once, at the start of a transaction or for a read outside one. A connection lost
inside a transaction fails that transaction (its outcome at a lost COMMIT is unknown, so the
bridge does not ack and the devices send again; envelope ids make that harmless).

Errors become :class:`~healthhub.fleet.store_db.StoreError` naming the store by its URL
without the password (``postgresql://user:***@host/db``), and the password is scrubbed from
whatever psycopg says.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from healthhub.fleet.store_db import Rows, StoreError, redact_url

log = logging.getLogger("healthhub.fleet.store")

#: The store's write lock: an arbitrary 64-bit key ("healthhb" in ASCII), per database.
WRITE_LOCK = 0x6865616C74686862
CONNECT_TIMEOUT_S = 10
#: As SQLite's busy_timeout: a writer waits this long for another's transaction.
LOCK_TIMEOUT = "10s"
#: A session stuck inside a transaction (a frozen bridge) is ended, releasing the lock.
IDLE_IN_TRANSACTION_TIMEOUT = "60s"

# What to step over unchanged: '...' (with ''), E'...' (with \'), "..." (with ""),
# $tag$...$tag$, -- to end of line, /* ... */ (PostgreSQL nests these).
_SKIP = re.compile(
    r"""(?P<e>(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*')
      | '(?:[^']|'')*'
      | "(?:[^"]|"")*"
      | (?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)
      | --[^\n]*
      | (?P<block>/\*)
      | (?P<open>['"])
    """,
    re.VERBOSE | re.DOTALL,
)


def _block_comment_end(sql: str, start: int) -> int:
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("unterminated /* comment in SQL")


@functools.lru_cache(maxsize=512)  # the store has a few dozen statements
def to_pyformat(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s``, and every ``%`` doubled (psycopg reads ``%``
    everywhere, literals included); text inside quotes and comments keeps its ``?``."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        match = _SKIP.search(sql, i)
        end_plain = len(sql) if match is None else match.start()
        out.append(sql[i:end_plain].replace("%", "%%").replace("?", "%s"))
        if match is None:
            break
        if match.group("open"):
            raise ValueError("unterminated quoted text in SQL")
        if match.group("block"):
            stop = _block_comment_end(sql, match.start())
        elif match.group("dollar"):
            tag = match.group("dollar")
            close = sql.find(tag, match.end())
            if close < 0:
                raise ValueError("unterminated dollar-quoted string in SQL")
            stop = close + len(tag)
        else:
            stop = match.end()
        out.append(sql[match.start() : stop].replace("%", "%%"))
        i = stop
    return "".join(out)


class PostgresDatabase:
    """One connection to a PostgreSQL database, replaced once if found broken."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise StoreError(f"practice store {self.url} is not a usable URL") from None
        # Scrub the password as written and as decoded, from the URL or its ?password=.
        secrets = {parts.password or "", unquote(parts.password or "")}
        try:
            self._params: dict[str, Any] = conninfo_to_dict(url)
        except psycopg.Error as exc:
            self._secrets = {s for s in secrets if s}
            raise self._error("is not a usable URL", exc) from None
        secrets.add(str(self._params.get("password") or ""))
        self._secrets = {s for s in secrets if s}
        self._params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        self._params.setdefault("application_name", "healthhub")
        self._conn: psycopg.Connection[Any] = self._connect()
        self._in_transaction = False

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return " ".join(text.split())

    def _error(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(self._scrub(f"practice store {self.url} {what}: {exc}"))

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(**self._params, autocommit=True)
        except psycopg.Error as exc:
            raise self._error("cannot be opened", exc) from None
        try:
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            conn.execute(
                f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'"
            )
        except psycopg.Error as exc:
            conn.close()
            raise self._error("cannot be opened", exc) from None
        return conn

    def _lost(self) -> bool:
        return self._conn.closed or self._conn.broken

    def _reconnect(self, exc: BaseException) -> None:
        log.warning(
            "%s", self._scrub(f"practice store {self.url}: connection lost ({exc}); reconnecting")
        )
        self._conn.close()
        self._conn = self._connect()

    def _ready(self) -> psycopg.Connection[Any]:
        """The connection, replaced first if it is known to be gone or left mid-transaction."""
        if self._lost():
            self._reconnect(StoreError("closed"))
        elif self._conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self._reconnect(StoreError("left inside a transaction"))
        return self._conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        query = to_pyformat(sql)
        if self._in_transaction:
            try:
                return self._conn.execute(query, tuple(params))
            except psycopg.Error as exc:
                raise self._error("failed", exc) from None
        # The store writes only inside transaction(), so a statement of its own is a read:
        # if the connection turns out to be broken, it runs once more on a new one.
        try:
            return self._ready().execute(query, tuple(params))
        except psycopg.OperationalError as exc:
            if not self._lost():
                raise self._error("failed", exc) from None
            self._reconnect(exc)
        except psycopg.Error as exc:
            raise self._error("failed", exc) from None
        try:
            return self._conn.execute(query, tuple(params))
        except psycopg.Error as exc:
            raise self._error("failed", exc) from None

    def _begin(self) -> None:
        for attempt in (1, 2):
            try:
                conn = self._ready()
                conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                return
            except psycopg.OperationalError as exc:
                if attempt == 2 or not self._lost():
                    self._rollback()
                    raise self._error("cannot start a transaction", exc) from None
                self._reconnect(exc)
            except psycopg.Error as exc:
                self._rollback()
                raise self._error("cannot start a transaction", exc) from None

    def _rollback(self) -> None:
        if self._lost():
            return  # the server ended the transaction with the connection
        try:
            self._conn.execute("ROLLBACK")
        except psycopg.Error as exc:
            log.warning("%s", self._scrub(f"practice store {self.url}: rollback failed: {exc}"))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:
            raise StoreError(f"practice store {self.url}: a transaction is already open")
        self._begin()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._rollback()
            raise
        self._in_transaction = False
        try:
            self._conn.execute("COMMIT")
        except psycopg.Error as exc:
            self._rollback()
            raise self._error("commit failed", exc) from None

    def close(self) -> None:
        self._conn.close()
