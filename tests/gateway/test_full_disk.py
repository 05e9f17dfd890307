"""A full disk under the SQLite store: 503s that say so, honest readiness, recovery by itself.

The disk fills up two ways (`tests.disks`): a real tmpfs of 2 MiB filled with
a file, and SQLite's page limit. Either way the relay has been running (an
event is stored) before the disk fills.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from gateway.app import create_app
from gateway.publisher import StorePublisher
from gateway.settings import GatewaySettings
from service.storage.sqlite import SqliteStore
from tests.disks import FULL, NO_PAGE_LIMIT, fill, limit_pages, tmpfs
from tests.gateway.app_client import PATH, client_for, ops_client_for
from tests.gateway.signing import SECRET, signed_headers
from tests.history import envelope


@dataclass
class Disk:
    """Where the store lives, and how to take its free space away and give it back."""

    store: SqliteStore
    directory: Path

    async def fill(self) -> None:
        raise NotImplementedError

    async def free(self) -> None:
        raise NotImplementedError


class Tmpfs(Disk):
    """A real filesystem, filled with a file until the kernel says ENOSPC."""

    async def fill(self) -> None:
        self._filler = fill(self.directory)

    async def free(self) -> None:
        self._filler.unlink()


class PageLimit(Disk):
    """SQLite's page limit on the store's writer connection: no page may be added to the file."""

    async def fill(self) -> None:
        await limit_pages(self.store, 1)  # SQLite raises it to the file's current size

    async def free(self) -> None:
        await limit_pages(self.store, NO_PAGE_LIMIT)


@pytest.fixture(params=["tmpfs", "max_page_count"])
async def disk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Disk]:
    """A SQLite store on a disk that can fill up."""
    with contextlib.ExitStack() as mounts:
        directory = tmp_path
        if request.param == "tmpfs":
            directory = mounts.enter_context(tmpfs(tmp_path / "disk", "2m"))
        store = await SqliteStore.open(directory / "relay.db")
        try:
            yield (Tmpfs if request.param == "tmpfs" else PageLimit)(store, directory)
        finally:
            await store.close()


def webhook(name: str, padding: int = 0) -> tuple[bytes, dict[str, str]]:
    """A signed `user.created`; `padding` bytes of metadata make it need pages of its own."""
    env, webhook_id = envelope(
        "user.created",
        f"user_{name}",
        1_700_000_000_000,
        f"msg_{name}",
        public_metadata={"notes": "x" * padding},
    )
    body = orjson.dumps(env)
    return body, signed_headers(body, webhook_id=webhook_id)


async def test_full_disk_is_503_and_not_ready_until_space_returns(
    disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(GatewaySettings(secrets=(SECRET,)), StorePublisher(disk.store))
    async with client_for(app) as client, ops_client_for(app) as ops:
        body, headers = webhook("before")
        response = await client.post(PATH, content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"sequence": 1})

        await disk.fill()
        caplog.clear()
        body, headers = webhook("while_full", padding=200_000)
        with caplog.at_level(logging.INFO, logger="clerk_relay"):
            response = await client.post(PATH, content=body, headers=headers)
            assert (response.status_code, response.json()) == (503, {"error": "store unavailable"})
            ready = await ops.get("/readyz")
        reason = (
            f"the store cannot append: could not write to {disk.directory / 'relay.db'}: {FULL}"
        )
        assert (ready.status_code, ready.json()) == (503, {"error": "the store is not available"})
        logged = [
            (r.name, r.levelno, re.sub(r"latency_ms=\S+", "latency_ms=…", r.getMessage()))
            for r in caplog.records
            if r.name.startswith("clerk_relay")
        ]
        assert logged == [
            ("clerk_relay.store", logging.ERROR, f"append failed: {FULL}"),
            (
                "clerk_relay.gateway",
                logging.ERROR,
                "webhook_id=msg_while_full type=user.created outcome=store_unavailable "
                'status=503 latency_ms=… reason="store unavailable" '
                f'detail="could not store the event: {FULL}"',
            ),
            ("clerk_relay.ops", logging.WARNING, f"readiness check failed: {reason}"),
        ]
        assert await disk.store.head() == 1
        assert [e.event().id for e in (await disk.store.read(0, 10)).events] == ["msg_before"]

        # Space returns: readiness and webhooks recover by themselves.
        await disk.free()
        ready = await ops.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        response = await client.post(PATH, content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"sequence": 2})
    stored = (await disk.store.read(0, 10)).events
    assert [(e.sequence, e.event().id) for e in stored] == [
        (1, "msg_before"),
        (2, "msg_while_full"),
    ]
