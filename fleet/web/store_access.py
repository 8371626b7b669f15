"""The dashboard's one way to the practice store.

:func:`open_store` is the only place a ``--store`` value becomes a store (a SQLite file, or
a ``postgresql://`` URL that the store itself understands), so a change in how stores are
opened is one function here. The dashboard serves requests on several threads and a store
holds one database connection, so requests take turns with it (a lock): the pages read a
few hundred rows, an acknowledgement writes one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from healthhub.fleet.store import PracticeStore, open_readonly


def open_store(target: str | Path) -> PracticeStore:
    """The store ``target`` names (a SQLite path, or a ``postgresql://`` URL as a ``str``);
    it must exist already: the bridge creates it."""
    return open_readonly(target)


class SharedStore:
    """One store for every request thread, opened on first use, used by one at a time."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self._store: PracticeStore | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[PracticeStore]:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.target)
            yield self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
