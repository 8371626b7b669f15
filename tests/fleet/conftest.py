"""Fixtures of the practice side's suites: a real PostgreSQL server, stores on both databases.

``postgres_server`` is one PostgreSQL cluster for the session (``tests/postgres_server.py``:
its own ``initdb``, a free loopback port, fsync on); ``postgres`` is the URL of a new empty
database on it for one test, dropped after, so tests never see each other's rows.
``store_target`` runs a test once on a SQLite file and once on a PostgreSQL database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except RuntimeError as exc:  # no PostgreSQL: fail, naming the install step
        raise AssertionError(str(exc)) from None
    with server:
        yield server


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> Iterator[str]:
    """``postgresql://healthhub:PASSWORD@127.0.0.1:PORT/t_...``: an empty database."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store goes: a SQLite file in ``tmp_path``, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    url: str = request.getfixturevalue("postgres")
    return url
