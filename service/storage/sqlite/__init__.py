"""The SQLite backend: the default, embedded store (one file, WAL mode, one process)."""

from service.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
