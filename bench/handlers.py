"""Hand-written webhook handlers: ingest baselines with the relay's durability on SQLite.

What a developer would write instead of running the relay: one Starlette
route, `POST /webhooks/clerk`, that

1. verifies the svix signature with the `svix` library
   (`Webhook(secret).verify(body, headers)`); any failure (a bad or missing
   signature, a stale timestamp) answers 401 and stores nothing;
2. `json.loads` the body (400 if it is not a JSON object);
3. inserts the webhook row (`svix_id` PRIMARY KEY, the body) into a SQLite file
   in WAL mode with `synchronous=FULL` (the relay's durability), commits, and
   only then answers 200. A duplicate svix-id answers 200 `{"duplicate": true}`
   and stores nothing (the load generator counts such answers as failures, as
   it does the relay's, since every request it sends is new).

With `upsert` ("handler + upsert"), the same transaction also upserts the user
of a `user.created` or `user.updated` into `users(id PRIMARY KEY, updated_at,
data)`: the newest `updated_at` wins (`ON CONFLICT … WHERE excluded.updated_at
> users.updated_at`), `data` is the event's `data` object as JSON.

The database is written on a thread of its own: a single-thread executor owns
the one connection, and each request awaits its transaction there
(`run_in_executor`), so the event loop goes on reading and verifying requests
while a commit waits for its fsync. Transactions run one after another (SQLite
serializes writers anyway); there is no group commit: one transaction, so one
WAL fsync, per webhook.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from svix.webhooks import Webhook, WebhookVerificationError

__all__ = ["SCHEMA", "USER_TYPES", "WebhookDatabase", "handler_app"]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhooks (svix_id TEXT PRIMARY KEY, body BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users "
    "(id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, data TEXT NOT NULL)",
)
"""The handler's tables."""

USER_TYPES = frozenset({"user.created", "user.updated"})
"""The events whose user the upsert variant keeps."""

_INSERT_WEBHOOK = "INSERT INTO webhooks (svix_id, body) VALUES (?, ?) ON CONFLICT DO NOTHING"
_UPSERT_USER = (
    "INSERT INTO users (id, updated_at, data) VALUES (?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data "
    "WHERE excluded.updated_at > users.updated_at"
)

_User = tuple[str, int, str]
"""A user row: id, updated_at, data."""


class WebhookDatabase:
    """The handler's SQLite file, opened and written on one thread of its own.

    Args:
        path: The database file (created with its tables if new).
        upsert: Also keep the user of each user event (`users`).
    """

    def __init__(self, path: Path, *, upsert: bool) -> None:
        self.upsert = upsert
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="handler-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._executor.submit(self._open, path).result()

    def _open(self, path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        for statement in SCHEMA:
            conn.execute(statement)
        self._conn = conn

    def _record(self, svix_id: str, body: bytes, user: _User | None) -> bool:
        conn = self._conn
        assert conn is not None
        with conn:  # one transaction: committed here, or rolled back on an error
            inserted = conn.execute(_INSERT_WEBHOOK, (svix_id, body)).rowcount == 1
            if inserted and user is not None:
                conn.execute(_UPSERT_USER, user)
        return inserted

    async def record(self, svix_id: str, body: bytes, user: _User | None) -> bool:
        """Stores a webhook (and upserts its user) and commits; False for a duplicate svix-id."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._record, svix_id, body, user)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Closes the connection and stops its thread."""
        self._executor.submit(self._close).result()
        self._executor.shutdown()


def _json(status_code: int, body: bytes) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")


def handler_app(database: WebhookDatabase, secret: str) -> Starlette:
    """The hand-written handler's app (see the module's docstring).

    Args:
        database: Where webhooks (and, with its `upsert`, users) go.
        secret: The svix signing secret (`whsec_…`).
    """
    verifier = Webhook(secret)

    async def webhook(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            verifier.verify(body, headers)
        except WebhookVerificationError:
            return _json(401, b'{"error":"invalid signature"}')
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _json(400, b'{"error":"not a JSON object"}')
        user = None
        if database.upsert and payload.get("type") in USER_TYPES:
            data = payload["data"]
            user = (str(data["id"]), int(data["updated_at"]), json.dumps(data))
        svix_id = headers.get("svix-id") or headers["webhook-id"]
        if await database.record(svix_id, body, user):
            return _json(200, b'{"ok":true}')
        return _json(200, b'{"duplicate":true}')

    return Starlette(routes=[Route("/webhooks/clerk", webhook, methods=["POST"])])
