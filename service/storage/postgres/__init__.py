"""The PostgreSQL backend: the scale-out store, shared by any number of relay processes."""

from service.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
