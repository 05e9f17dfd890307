"""A trim that cannot commit (a full disk) leaves the log, and what the store says of it, alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.storage import Retention, StoreUnavailable
from service.storage.sqlite import SqliteStore
from tests.disks import fill, tmpfs
from tests.history import event


async def test_a_trim_that_fails_keeps_every_event_readable(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        store = await SqliteStore.open(disk / "relay.db", Retention(max_count=1, interval_s=3600))
        try:
            for n in range(3):
                await store.append(event("user.created", f"user_{n}", webhook_id=f"msg_{n}"))
            fill(disk)
            with pytest.raises(StoreUnavailable, match="could not trim the log"):
                await store.trim()
            assert await store.oldest_retained() == 1
            read = await store.read(0, 10)
            assert [e.sequence for e in read.events] == [1, 2, 3]
        finally:
            await store.close()
