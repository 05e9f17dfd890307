"""Opens the store a database URL names: SQLite (the default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from service.storage.consumer_state import ConsumerState
from service.storage.interface import Retention, Store, StoreError

__all__ = ["DEFAULT_DATABASE_URL", "open_consumer_state", "open_store", "sqlite_path"]

DEFAULT_DATABASE_URL = "sqlite:///./clerk-relay.db"


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///relative/path` or `sqlite:////absolute/path` URL."""
    return Path(url.removeprefix("sqlite:///"))


async def open_store(url: str, retention: Retention | None = None) -> Store:
    """Opens, creating and migrating if needed, the store at `url`.

    Raises:
        StoreUnavailable: The database cannot be reached now (a server still
            starting); trying again later may work.
        StoreError: The URL is not understood, or the database cannot be used
            (corrupt, or written by a newer clerk-relay).
    """
    if url.startswith("sqlite:///"):
        from service.storage.sqlite import SqliteStore

        return await SqliteStore.open(sqlite_path(url), retention)
    if url.startswith(("postgresql://", "postgres://")):
        from service.storage.postgres import PostgresStore

        return await PostgresStore.open(url, retention)
    raise StoreError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db or postgresql://…"
    )


def open_consumer_state(url: str) -> ConsumerState:
    """The consumer groups of the database at `url`, whose store is open (and so migrated).

    Connects on first use, with a connection of its own.

    Raises:
        StoreError: The URL is not understood.
    """
    if url.startswith("sqlite:///"):
        from service.storage.sqlite.consumer_db import SqliteConsumerDatabase

        return ConsumerState(SqliteConsumerDatabase(sqlite_path(url)))
    if url.startswith(("postgresql://", "postgres://")):
        from service.storage.postgres.connections import connection_kwargs
        from service.storage.postgres.consumer_db import PostgresConsumerDatabase

        return ConsumerState(PostgresConsumerDatabase(url, connection_kwargs(url, 5.0)))
    raise StoreError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db or postgresql://…"
    )
