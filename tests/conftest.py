"""Fixtures shared by every test folder.

A real SQLite store, a real `clerk-relay serve`, and a throwaway PostgreSQL
cluster of the suite's own for tests that stop the database (see
`tests.pg_cluster`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.sqlite_store import SqliteStore
from tests.pg_cluster import Cluster, unavailable
from tests.processes import RelayProcess, running, serve


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A fresh SQLite store in `tmp_path`, closed after the test."""
    opened = await SqliteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    """`clerk-relay serve` on free loopback ports, over a SQLite file in `tmp_path`."""
    process = serve(tmp_path)
    with running(process):
        yield process


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[Cluster]:
    """The suite's own PostgreSQL cluster, started once and removed at the end of the session.

    Skips (outside CI) or fails (in CI) when no cluster can be made here.
    """
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"a throwaway PostgreSQL cluster is required in CI: {reason}")
        pytest.skip(f"{reason}; CI runs these tests")
    cluster = Cluster.create()
    try:
        yield cluster
    finally:
        cluster.remove()

