"""Connections to PostgreSQL: arguments from a URL, connecting, and telling why it failed.

Every connection of the PostgreSQL store (the writer's, the listener's and the
readers' pool) is made from the same URL and the same added arguments. Errors
are reported with where the URL points, never with its password, and on one
line.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection, IsolationLevel
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

__all__ = [
    "Connection",
    "ConnectionLost",
    "Pool",
    "Unreachable",
    "configure_reader",
    "connect",
    "connection_kwargs",
    "describe",
    "one_line",
]

Connection = AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Connection]


class Unreachable(Exception):
    """The writer cannot reach the server: retrying each event of a batch is pointless."""


class ConnectionLost(Exception):
    """The writer's connection broke during a transaction (it has been discarded)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (libpq's messages span several)."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


def describe(url: str) -> str:
    """Where a URL points, without its password: `host:port/dbname`."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "the configured URL"
    host = params.get("host") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def connection_kwargs(url: str, connect_timeout_s: float) -> dict[str, Any]:
    """Connection parameters added to the URL's own (which win when both are given).

    TCP keepalives make a silently vanished server surface as an error on the
    listener and the writer instead of a wait that never ends.
    """
    given = conninfo_to_dict(url)
    defaults: dict[str, Any] = {
        "connect_timeout": max(1, round(connect_timeout_s)),
        "application_name": "clerk-relay",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    return {key: value for key, value in defaults.items() if key not in given}


async def connect(url: str, kwargs: dict[str, Any]) -> Connection:
    """A connection in autocommit mode (transactions are explicit), at READ COMMITTED."""
    conn = await AsyncConnection.connect(url, autocommit=True, **kwargs)
    await conn.set_isolation_level(IsolationLevel.READ_COMMITTED)
    return conn


async def configure_reader(conn: Connection) -> None:
    """Pool connections: every read is one read-only snapshot."""
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
    await conn.set_read_only(True)
