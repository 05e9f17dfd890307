"""Connections to PostgreSQL: arguments from a URL, connecting, and telling why it failed.

Every connection of the PostgreSQL store (the writer's, the listener's and the
readers' pool) is made from the same URL and the same added arguments. Errors
are reported with where the URL points, never with its password, and on one
line. The first connection (`connect_writer`) creates the URL's database when
it does not exist, and tells a login the server refuses (which no retry can
fix) from a server that cannot be reached yet.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from psycopg import AsyncConnection, IsolationLevel, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from service.storage.interface import StoreError, StoreUnavailable

__all__ = [
    "Connection",
    "ConnectionLost",
    "Pool",
    "Unreachable",
    "configure_reader",
    "connect",
    "connect_writer",
    "connection_kwargs",
    "create_database",
    "describe",
    "missing_database",
    "one_line",
    "refused_login",
]

_MISSING_DATABASE = re.compile(r'FATAL:  database "(.+)" does not exist$', re.M)
_REFUSED_LOGIN = re.compile(
    r'password authentication failed|role ".+" does not exist|'
    r"no pg_hba\.conf entry|is not permitted to log in|"
    r"(?:Ident|Peer|GSSAPI|SSPI|RADIUS|LDAP|PAM|certificate) authentication failed"
)
_MAINTENANCE_DATABASES = ("postgres", "template1")

_log = logging.getLogger("clerk_relay.store")

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


def missing_database(error: psycopg.Error) -> str | None:
    """The database's name when connecting failed because it does not exist.

    libpq gives no SQLSTATE for a failed connection: the server's message
    (English unless the server's `lc_messages` says otherwise) is all there is.
    """
    found = _MISSING_DATABASE.search(str(error))
    return found[1] if found else None


def refused_login(error: psycopg.Error) -> bool:
    """Connecting failed because the server refused the role or its credentials.

    Retrying cannot help: the URL (its user or password) or the server's
    `pg_hba.conf` must change.
    """
    return _REFUSED_LOGIN.search(str(error)) is not None


async def create_database(url: str, kwargs: dict[str, Any], name: str) -> bool:
    """Creates database `name` through a maintenance database the URL's role can reach.

    Returns False when another process created it first.

    Raises:
        psycopg.Error: No maintenance database answers, or the role may not
            create databases (`InsufficientPrivilege`).
    """
    failure: psycopg.Error | None = None
    for maintenance in _MAINTENANCE_DATABASES:
        try:
            conn = await AsyncConnection.connect(
                make_conninfo(url, dbname=maintenance), autocommit=True, **kwargs
            )
        except psycopg.OperationalError as error:
            failure = error
            continue
        async with conn:
            try:
                await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                return False  # a concurrent CREATE DATABASE can fail either way
            return True
    assert failure is not None
    raise failure


async def connect(url: str, kwargs: dict[str, Any]) -> Connection:
    """A connection in autocommit mode (transactions are explicit), at READ COMMITTED."""
    conn = await AsyncConnection.connect(url, autocommit=True, **kwargs)
    await conn.set_isolation_level(IsolationLevel.READ_COMMITTED)
    return conn


async def configure_reader(conn: Connection) -> None:
    """Pool connections: every read is one read-only snapshot."""
    await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
    await conn.set_read_only(True)


async def connect_writer(url: str, kwargs: dict[str, Any], where: str) -> Connection:
    """The writer's connection; the database is created first when it does not exist.

    Raises:
        StoreUnavailable: The server cannot be reached (trying later may work).
        StoreError: The server refused the login, or the database is missing
            and the role may not create it: only a change of configuration helps.
    """
    try:
        return await connect(url, kwargs)
    except psycopg.Error as error:
        missing = missing_database(error)
        if missing is None:
            failure = StoreError if refused_login(error) else StoreUnavailable
            raise failure(f"cannot connect to PostgreSQL at {where}: {one_line(error)}") from error
    try:
        if await create_database(url, kwargs, missing):
            _log.info("created PostgreSQL database %r at %s", missing, where)
    except psycopg.errors.InsufficientPrivilege as error:
        raise StoreError(
            f"PostgreSQL database {missing!r} does not exist at {where}, and this role may not "
            f"create it ({one_line(error)}): create it (createdb {missing}) or grant CREATEDB"
        ) from error
    except psycopg.Error as error:
        raise StoreUnavailable(
            f"cannot create the PostgreSQL database {missing!r} at {where}: {one_line(error)}"
        ) from error
    try:
        return await connect(url, kwargs)
    except psycopg.Error as error:
        message = f"cannot connect to PostgreSQL at {where}: {one_line(error)}"
        raise StoreUnavailable(message) from error
