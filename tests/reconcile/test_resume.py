"""Resuming a pass from its checkpoint: later pages only, kinds done skipped, no deletion.

A relay dying mid-pass is played here by a client that raises, after a few
pages, an exception that nothing in the pass catches (the process-level test,
with SIGKILL, is `test_resume_process.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.reconcile import ClerkApi, PassReport, PassSettings, run_pass
from service.reconcile.clerk_api import ListedPage
from service.reconcile.journal import PassJournal
from service.reconcile.paging import ListPosition
from service.storage import (
    KIND_DONE,
    KIND_LISTING,
    KIND_PENDING,
    PASS_RUNNING,
    KindCheckpoint,
    PassCheckpoint,
    Store,
)
from tests.contract.conftest import end_pass_lock_session
from tests.history import event
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.conftest import settings
from tests.reconcile.pass_helpers import NOW_MS, log, record

PAGE = 10


class Died(BaseException):
    """The relay died: nothing in the pass handles it."""


class DiesAfter(ClerkApi):
    """A client whose process dies when asked for a page after the first `pages` of a kind."""

    def __init__(self, api_url: str, kind: str, pages: int) -> None:
        super().__init__(settings(api_url, page_size=PAGE))
        self._kind, self._pages = kind, pages

    async def list_pages(
        self, kind: str, start: ListPosition | None = None
    ) -> AsyncIterator[ListedPage]:
        """The listing, dying after `pages` pages of the chosen kind."""
        given = 0
        async for page in super().list_pages(kind, start):
            if kind == self._kind and given == self._pages:
                raise Died
            given += 1
            yield page


async def _die(api_url: str, store: Store, kinds: list[str], kind: str, pages: int) -> None:
    async with DiesAfter(api_url, kind, pages) as api:
        with pytest.raises(Died):
            await run_pass(store, api, kinds, "p1", PassSettings(clock_ms=lambda: NOW_MS))


async def _resume(api_url: str, store: Store) -> PassReport:
    checkpoint = await store.unfinished_pass()
    assert checkpoint is not None and checkpoint.status == PASS_RUNNING
    journal = PassJournal.resume(store, checkpoint)
    async with ClerkApi(settings(api_url, page_size=PAGE)) as api:
        return await run_pass(
            store, api, journal.kinds, "p1", PassSettings(clock_ms=lambda: NOW_MS), journal=journal
        )


async def test_an_offset_listing_resumes_at_its_saved_offset_and_deletes_nothing(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    organizations = [item["id"] for item in double.add("organization", 35)]
    await mirror.append(event("organization.created", "org_gone", webhook_id="msg_gone"))
    await _die(api_url, mirror, ["organization"], "organization", 2)
    saved = await mirror.unfinished_pass()
    assert saved is not None and saved.kinds[0].status == KIND_LISTING
    # Offsets 0 and 9 were compared (one object of overlap): the next page is at 18.
    assert ListPosition.from_text(saved.kinds[0].position).offset == 2 * (PAGE - 1)
    before = len(double.exchanges)

    report = await _resume(api_url, mirror)

    offsets = [dict(exchange.query)["offset"] for exchange in double.exchanges[before:]]
    assert offsets == ["18", "27"]
    kind = report.kinds["organization"]
    assert (kind.complete, kind.resumed, kind.created, kind.deleted) == (True, True, 35, 0)
    assert report.completed and await mirror.unfinished_pass() is None
    created = [e.organization_created.id for e in await log(mirror, 1)]
    assert sorted(created) == sorted(organizations)  # each once
    assert not (await record(mirror, "organization", "org_gone")).deleted


async def test_kinds_done_before_the_restart_are_not_listed_again(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("role", 4)
    users = [item["id"] for item in double.add("user", 25)]
    await _die(api_url, mirror, ["role", "user"], "user", 1)
    saved = await mirror.unfinished_pass()
    assert saved is not None and [k.status for k in saved.kinds] == [KIND_DONE, KIND_LISTING]
    before = len(double.exchanges)

    report = await _resume(api_url, mirror)

    paths = [exchange.path for exchange in double.exchanges[before:]]
    assert paths == ["/users", "/users"]  # pages 2 and 3 of the users, no roles
    assert dict(double.exchanges[before].query)["starting_after"] == users[PAGE - 1]
    assert report.kinds["role"].created == 4 and report.kinds["role"].complete
    assert report.kinds["user"].created == 25 and report.completed
    assert len(await log(mirror)) == 29


async def test_a_listing_killed_before_its_first_page_is_whole_and_deletes(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("user", 12)
    await mirror.append(event("user.created", "user_gone", webhook_id="msg_gone"))
    await _die(api_url, mirror, ["user"], "user", 0)

    report = await _resume(api_url, mirror)

    kind = report.kinds["user"]  # nothing listed before: this listing is whole
    assert (kind.resumed, kind.created, kind.deleted) == (False, 12, 1)
    assert (await record(mirror, "user", "user_gone")).deleted


async def test_a_new_pass_abandons_one_left_unfinished(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("user", 15)
    await _die(api_url, mirror, ["user"], "user", 1)
    async with ClerkApi(settings(api_url)) as api:
        report = await run_pass(mirror, api, ["user"], "p2")
    assert report.completed
    assert await mirror.unfinished_pass() is None  # p1 abandoned, p2 completed


async def test_a_position_that_cannot_be_read_lists_the_kind_again(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("user", 12)
    broken = KindCheckpoint("user", KIND_LISTING, "not a position", 0, "{}")
    await mirror.save_pass(PassCheckpoint("p1", "rpc", False, 0.1, PASS_RUNNING, 1, 1, (broken,)))

    report = await _resume(api_url, mirror)

    assert "starting_after" not in dict(double.exchanges[0].query)  # from the start
    kind = report.kinds["user"]
    assert (kind.complete, kind.resumed, kind.created) == (True, False, 12)


@pytest.mark.parametrize("backend", ["postgres"])  # the lock SQLite's store holds cannot be lost
async def test_a_pass_that_lost_its_lock_stops_at_its_next_save(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    double.add("user", 35)
    await mirror.append(event("user.created", "user_gone", webhook_id="msg_gone"))
    lock = await mirror.lock_passes()
    assert lock is not None
    journal = await PassJournal.start(
        mirror,
        "p1",
        ["user"],
        trigger="rpc",
        allow_mass_delete=False,
        max_delete_share=0.1,
        lock=lock,
    )
    await end_pass_lock_session()  # another process may take the lock from now on
    async with ClerkApi(settings(api_url, page_size=PAGE)) as api:
        report = await run_pass(
            mirror, api, ["user"], "p1", PassSettings(clock_ms=lambda: NOW_MS), journal=journal
        )
    assert report.error is not None and "lost the reconciliation pass lock" in report.error
    assert (report.kinds["user"].scanned, double.exchanges) == (0, [])  # nothing listed
    assert len(await log(mirror)) == 1  # nothing appended, nothing deleted
    saved = await mirror.unfinished_pass()  # left running, for the lock's next holder
    assert saved is not None and saved.status == PASS_RUNNING
    assert [k.status for k in saved.kinds] == [KIND_PENDING]
    await lock.release()
