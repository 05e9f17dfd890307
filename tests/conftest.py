"""Fixtures shared by every test folder: a real SQLite store, a real `clerk-relay serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.sqlite_store import SqliteStore
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
