"""The practice store's schema, as numbered migrations applied in order, once.

Each store records the migrations it has (``schema_version``). Opening a store applies
the missing ones, each in its own transaction, so an old store is brought up to date and a
new one is built the same way: one schema, whichever database holds it. Statements are in
the SQL both SQLite and PostgreSQL accept; a migration never edits an earlier one's
statements (a store in the field already ran them), it adds new ones.

A store newer than this code (a higher version than it knows) is refused rather than
written by code that does not understand it.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthhub.fleet.store_db import Database, StoreError
from healthhub.protocol.clock import now_utc


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "envelopes once each, per-device confirmation, rejections, latest device reports",
        (
            """CREATE TABLE IF NOT EXISTS envelopes (
                id          TEXT PRIMARY KEY,
                device      TEXT NOT NULL,
                site        TEXT NOT NULL,
                seq         BIGINT NOT NULL,
                stream      TEXT NOT NULL,
                kind        TEXT NOT NULL,
                at          TEXT NOT NULL,
                body        TEXT NOT NULL,
                received_at TEXT NOT NULL,
                UNIQUE (device, seq)
            )""",
            "CREATE INDEX IF NOT EXISTS envelopes_stream_at ON envelopes (stream, at)",
            """CREATE TABLE IF NOT EXISTS progress (
                device        TEXT PRIMARY KEY,
                confirmed_seq BIGINT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS rejections (
                reason TEXT PRIMARY KEY,
                count  BIGINT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS device_reports (
                device       TEXT PRIMARY KEY,
                status       TEXT,
                status_at    TEXT,
                telemetry    TEXT,
                telemetry_at TEXT
            )""",
        ),
    ),
    Migration(
        2,
        "staff acknowledge and escalate alerts; devices' online/offline history",
        (
            """CREATE TABLE IF NOT EXISTS alert_state (
                id              TEXT PRIMARY KEY REFERENCES envelopes (id),
                acknowledged_at TEXT,
                acknowledged_by TEXT,
                escalated_at    TEXT,
                escalations     INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE IF NOT EXISTS status_history (
                device      TEXT NOT NULL,
                state       TEXT NOT NULL,
                at          TEXT NOT NULL,
                received_at TEXT NOT NULL,
                PRIMARY KEY (device, at, state)
            )""",
            "CREATE INDEX IF NOT EXISTS status_history_at ON status_history (at)",
        ),
    ),
    Migration(
        3,
        "the configuration and content versions each device last reported",
        (
            "ALTER TABLE device_reports ADD COLUMN config TEXT",
            "ALTER TABLE device_reports ADD COLUMN config_at TEXT",
            "ALTER TABLE device_reports ADD COLUMN content TEXT",
            "ALTER TABLE device_reports ADD COLUMN content_at TEXT",
        ),
    ),
    Migration(
        4,
        "the software update state each device last reported",
        (
            "ALTER TABLE device_reports ADD COLUMN software TEXT",
            "ALTER TABLE device_reports ADD COLUMN software_at TEXT",
        ),
    ),
)

LATEST = MIGRATIONS[-1].version


def migrate(db: Database) -> list[int]:
    """Bring ``db`` to :data:`LATEST`; returns the versions applied now (none if current).

    A store already current is only read: the consoles that reopen it every few seconds
    (``status --watch``, ``alerts --watch``) never take the bridge's write lock for it."""
    try:
        if schema_version(db) == LATEST:
            return []
    except StoreError:
        pass  # no schema_version yet: a new store, or one from before migrations were numbered
    with db.transaction():
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
    applied = []
    for migration in MIGRATIONS:
        with db.transaction():
            # Read inside the write lock: two processes opening a new store at once apply
            # each migration once.
            held = db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            if held > LATEST:
                raise StoreError(
                    f"the practice store is at schema version {held}, newer than this "
                    f"software knows ({LATEST}): upgrade healthhub before using it"
                )
            if migration.version <= held:
                continue
            for statement in migration.statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, now_utc()),
            )
            applied.append(migration.version)
    return applied


def schema_version(db: Database) -> int:
    return int(db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])
