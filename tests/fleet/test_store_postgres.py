"""The practice store on PostgreSQL: what SQLite does not show.

The store's behaviour on both databases is in test_store.py and test_store_lifecycle.py
(``store_target``); here: placeholders, writers taking turns, migrations raced from several
processes, a server restart under a long-lived store, passwords kept out of every message,
a URL store that is not there, and the real CLI on a ``postgresql://`` store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psycopg
import pytest
from postgres_server import PostgresServer
from processes import free_port, run_cli, wait_until

from healthhub.fleet.store import Filed, FilingResult, PracticeStore, open_readonly
from healthhub.fleet.store_db import (
    SqliteDatabase,
    StoreError,
    describe,
    open_database,
    redact_url,
    store_target,
)
from healthhub.fleet.store_postgres import to_pyformat
from healthhub.fleet.store_schema import LATEST
from healthhub.protocol.envelope import Envelope


def filed(seq: int, stream: str = "readings", device: str = "wall-1") -> Filed:
    kind = "help_requested" if stream == "alerts" else "heart_rate"
    env = Envelope(f"{device}-{stream}-{seq}", device, "practice-a", seq, stream, kind, "t", {})
    body = {"components": [{"code": "pulse", "value": 70, "unit": "/min"}]}
    return Filed(env, body, "2026-11-23T10:01:00.000Z")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
        ("SELECT '?', \"?\", ?", "SELECT '?', \"?\", %s"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT E'\\'?', ?", "SELECT E'\\'?', %s"),
        ("SELECT $$ ? $$, $q$ $$ ? $q$, ?", "SELECT $$ ? $$, $q$ $$ ? $q$, %s"),
        ("SELECT $1, ? -- ?\n, ?", "SELECT $1, %s -- ?\n, %s"),
        ("/* ? /* ? */ ? */ ?", "/* ? /* ? */ ? */ %s"),
        ("SELECT ? LIKE 'a%'", "SELECT %s LIKE 'a%%'"),  # psycopg reads % everywhere
        ("SELECT 5 % ?", "SELECT 5 %% %s"),
    ],
)
def test_placeholders_become_pyformat_outside_quotes_and_comments(sql: str, expected: str) -> None:
    assert to_pyformat(sql) == expected


@pytest.mark.parametrize("sql", ["SELECT 'open ?", 'SELECT "open', "SELECT $$ ?", "/* ? /* */"])
def test_unterminated_quotes_and_comments_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        to_pyformat(sql)


def test_translated_statements_mean_the_same_on_the_server(postgres: str) -> None:
    db = open_database(postgres)
    row = db.execute("SELECT '?', ?, '%', $$?$$ || ?, 7 % ?", ("a", "b", 4)).fetchone()
    assert tuple(row) == ("?", "a", "%", "?b", 3)
    db.close()


def test_a_url_opens_postgresql_and_anything_else_sqlite(
    postgres: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    db = open_database(postgres)
    assert db.dialect == "postgresql"
    db.close()
    assert isinstance(open_database(tmp_path / "s.sqlite"), SqliteDatabase)
    assert store_target(postgres) == postgres
    assert store_target("postgres://u@h/db") == "postgres://u@h/db"
    assert store_target("store.sqlite") == Path("store.sqlite")
    # A URL that went through Path lost its "//": refused, never made a SQLite file.
    with pytest.raises(StoreError, match="given as a file path") as caught:
        open_database(Path(postgres))
    assert postgres_server.password not in str(caught.value)


def test_urls_are_printed_without_their_password() -> None:
    assert redact_url("postgresql://hub:s3cr%40t@db.example:5432/hub") == (
        "postgresql://hub:***@db.example:5432/hub"
    )
    assert redact_url("postgresql://hub@db/hub?password=s3cret&sslmode=require") == (
        "postgresql://hub@db/hub?password=***&sslmode=require"
    )
    assert redact_url("postgresql://hub:s3cret@[::1/hub") == "postgresql://(unreadable URL)"
    assert describe("postgres://db/hub") == "postgres://db/hub"
    assert describe(Path("/srv/store.sqlite")) == "/srv/store.sqlite"


def test_no_message_ever_holds_the_password(postgres: str, postgres_server: PostgresServer) -> None:
    secret = postgres_server.password
    wrong = postgres.replace(secret, "Wr0ng-Passw0rd-xyz")
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        PracticeStore(wrong)
    assert "Wr0ng-Passw0rd-xyz" not in str(caught.value)
    assert "healthhub:***@127.0.0.1" in str(caught.value)
    as_query = postgres.replace(f":{secret}@", "@") + "?password=Wr0ng-Passw0rd-xyz"
    with pytest.raises(StoreError) as caught:
        PracticeStore(as_query)
    assert "Wr0ng-Passw0rd-xyz" not in str(caught.value)
    refused = postgres.replace(str(postgres_server.port), str(free_port()))
    with pytest.raises(StoreError, match="cannot be opened") as caught:
        PracticeStore(refused)
    assert secret not in str(caught.value)
    store = PracticeStore(postgres)
    with pytest.raises(StoreError, match="no_such_table") as caught:
        store._db.execute("SELECT * FROM no_such_table")
    assert secret not in str(caught.value)
    assert "healthhub:***@" in str(caught.value)
    store.close()


def test_a_url_store_must_exist_to_be_read(postgres: str, postgres_server: PostgresServer) -> None:
    gone = postgres_server.url_for("no_such_database")
    with pytest.raises(StoreError, match='database "no_such_database" does not exist'):
        open_readonly(gone)
    with pytest.raises(StoreError, match="not found \\(has the bridge run\\?\\)") as caught:
        open_readonly(postgres)  # the database is there, the store's tables are not
    assert postgres_server.password not in str(caught.value)
    db = open_database(postgres)
    assert db.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None  # not made
    db.close()
    PracticeStore(postgres).close()  # what the bridge does at its start
    open_readonly(postgres).close()


def test_a_failed_transaction_leaves_nothing_and_they_do_not_nest(postgres: str) -> None:
    store = PracticeStore(postgres)
    db = store._db

    def half_done() -> None:
        with db.transaction():
            db.execute("INSERT INTO rejections (reason, count) VALUES (?, ?)", ("x", 1))
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        half_done()
    assert store.rejections() == {}
    with db.transaction(), pytest.raises(StoreError, match="already open"), db.transaction():
        pass
    store.count_rejection("x")
    assert store.rejections() == {"x": 1}
    store.close()


def test_a_writer_waits_for_the_others_commit_and_then_sees_it(postgres: str) -> None:
    """Seq 2 is being committed by one writer while another files seq 1: the second waits
    for the write lock, so it sees seq 2 and confirms 2, not 1."""
    first, second = PracticeStore(postgres), PracticeStore(postgres)
    results: list[FilingResult] = []
    with psycopg.connect(postgres, autocommit=True) as watcher:

        def waiting() -> bool:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            row = watcher.execute(query).fetchone()
            return row is not None and row[0] == 1

        with first._db.transaction():
            item = filed(2).envelope
            first._db.execute(
                "INSERT INTO envelopes (id, device, site, seq, stream, kind, at, body,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', ?)",
                (item.id, item.device, item.site, 2, item.stream, item.kind, item.at, "t"),
            )
            thread = threading.Thread(target=lambda: results.append(second.file([filed(1)])))
            thread.start()
            wait_until(waiting, 20, "the second writer waiting for the store's write lock")
        thread.join(30)
    assert [r.advanced for r in results] == [{"wall-1": 2}]
    first.close()
    second.close()


MIGRATE = textwrap.dedent(
    """
    import json, os, sys, time
    from healthhub.fleet.store_db import open_database
    from healthhub.fleet.store_schema import migrate
    db = open_database(sys.argv[1])
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.001)
    print(json.dumps(migrate(db)))
    """
)


def test_processes_migrating_a_new_database_at_once_apply_each_migration_once(
    postgres: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, postgres, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    outcomes = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, [err for _, err in outcomes]
    applied = sorted(v for out, _ in outcomes for v in json.loads(out))
    assert applied == list(range(1, LATEST + 1))
    db = open_database(postgres)
    rows = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, LATEST + 1))
    db.close()


def test_a_long_lived_store_outlives_a_server_restart() -> None:
    with PostgresServer() as server:
        store = PracticeStore(server.url)
        assert store.file([filed(1)]).advanced == {"wall-1": 1}
        server.restart()  # every session is ended: the store's connection is dead
        assert store.file([filed(2)]).advanced == {"wall-1": 2}
        server.restart()
        assert store.confirmations() == {"wall-1": 2}  # a read reconnects too
        server.stop()
        with pytest.raises(StoreError, match="cannot be opened") as caught:
            store.file([filed(3)])
        assert server.password not in str(caught.value)
        server.start()
        assert store.file([filed(3)]).advanced == {"wall-1": 3}
        assert store.count("readings") == 3
        store.close()


def test_export_and_alerts_through_the_cli_on_a_postgresql_store(
    postgres: str, postgres_server: PostgresServer
) -> None:
    store = PracticeStore(postgres)
    store.file([filed(1), filed(2), filed(1, "alerts", "kiosk-1")])
    store.close()
    export = run_cli("healthhub-fleet", "export", "--store", postgres)
    assert [json.loads(line)["seq"] for line in export.stdout.splitlines()] == [1, 2]
    listed = json.loads(run_cli("healthhub-fleet", "alerts", "--store", postgres, "--json").stdout)
    assert [a["id"] for a in listed] == ["kiosk-1-alerts-1"]
    run_cli(
        "healthhub-fleet", "alerts", "--store", postgres, "--ack", "kiosk-1-alerts-1", "--by", "dr"
    )
    assert PracticeStore(postgres).alerts()[0]["acknowledged_by"] == "dr"
    empty = postgres_server.url_for(postgres.rsplit("/", 1)[1] + "_x")
    postgres_server.create_database(empty.rsplit("/", 1)[1])
    failed = run_cli("healthhub-fleet", "export", "--store", empty, check=False)
    assert failed.returncode == 1
    assert "not found (has the bridge run?)" in failed.stderr
    wrong = postgres.replace(postgres_server.password, "Wr0ng-Passw0rd-xyz")
    failed = run_cli("healthhub-fleet", "alerts", "--store", wrong, check=False)
    assert failed.returncode == 1
    assert "password authentication failed" in failed.stderr
    assert "Wr0ng-Passw0rd-xyz" not in failed.stderr + failed.stdout
    postgres_server.drop_database(empty.rsplit("/", 1)[1])
