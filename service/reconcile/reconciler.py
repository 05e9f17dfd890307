"""A reconciliation pass: Clerk's Backend API listings compared with the mirror, repairs appended.

`run_pass(store, api, kinds, pass_id, settings)` reconciles each kind in turn:

1. It records the log's head, then lists every object of the kind, a page at
   a time (`ClerkApi.list_pages`).
2. It compares each object with the mirror's record (`Store.get_entities`, a
   page's records in one read) by the webhooks' newest-wins rule, on
   `updated_at`:

   | the mirror holds                              | the pass appends          |
   |-----------------------------------------------|---------------------------|
   | nothing                                       | `.created`                |
   | the same typed state                          | nothing (`unchanged`)     |
   | an older state                                | `.updated`                |
   | a state as new or newer                       | nothing (`kept`)          |
   | a tombstone as new or newer than the object   | nothing (`kept`)          |
   | a tombstone older than the object             | `.created` (it lives on)  |

   Repairs are appended as they are found, a batch at a time through the
   store's group commit, and the store applies them by its usual rules: a
   webhook that lands meanwhile with newer state still wins (the repair is
   logged as `stale`). Once a page's repairs are durable, the pass saves
   where the listing continues from (`service.reconcile.journal`).
3. Deletions, only when the listing ended without an error: every live entity
   of the kind that the listing did not contain, and that did not change
   after the listing began (its `event_sequence` is at most the head recorded
   in 1), gets a `.deleted` event. The mass-delete guard: when more than
   `max_delete_share` of the kind's live entities would go, none does, and
   the report says why, unless `allow_mass_delete`. Kinds Clerk sends no
   `.deleted` webhook for (invitations, waitlist entries, subscription items)
   are reported (`undeletable`), not deleted.

Resuming (a `PassJournal` of a pass found unfinished at start-up): kinds that
had ended are reported as they ended; a kind that was listing continues from
its saved position, and then deletes nothing, since its listing is not one
complete listing (`KindReport.resumed`: the next pass deletes); kinds not
begun run as above.

The events are built by `service.reconcile.synthetic`: the type a webhook
would have had, the object as `raw_body`, `origin` RECONCILIATION, the pass id,
and a deterministic id, so a pass run again under the same id appends each
change once.

Errors: `BadKey`, `ApiUnavailable` and a failing store stop the pass (the
kinds after it are not reached); any other listing error (a request Clerk
rejects, a body not shaped as its spec says) fails that kind only. A kind
whose listing failed deletes nothing; the repairs appended before the failure
stay, each a snapshot applied by newest-wins.

Configuration, scheduling, the RPC and metrics are around it
(`service.reconcile.scheduler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from clerkrelay.kinds import KIND_BY_NAME
from gateway.json_text import TooDeep
from service.reconcile.clerk_api import ApiObject, ClerkApi, ListedPage
from service.reconcile.endpoints import LIST_ENDPOINTS
from service.reconcile.errors import ApiUnavailable, BadKey, ClerkApiError
from service.reconcile.journal import PassJournal
from service.reconcile.paging import ListPosition
from service.reconcile.repairs import RepairQueue
from service.reconcile.report import KindReport, PassReport
from service.reconcile.synthetic import (
    Change,
    Snapshot,
    check_pass_id,
    deletable,
    deleted_event,
    snapshot,
    with_mirror_links,
)
from service.storage import (
    KIND_DONE,
    KIND_FAILED,
    KIND_LISTING,
    EntityRecord,
    Store,
    StoreError,
)

__all__ = ["DEFAULT_MAX_DELETE_SHARE", "Outcome", "PassSettings", "decide", "run_pass"]

DEFAULT_MAX_DELETE_SHARE = 0.10
"""The largest share of a kind's live entities one pass deletes without `allow_mass_delete`."""

_LIVE_PAGE = 500
_log = logging.getLogger("clerk_relay.reconcile")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class PassSettings:
    """How a pass behaves.

    Attributes:
        max_delete_share: The mass-delete guard: a kind deletes nothing when
            more than this share of its live entities would be deleted.
        allow_mass_delete: Delete past the guard all the same.
        append_batch: Appends in flight at once (one group commit holds them).
        clock_ms: The time, in ms since the epoch (the events' timestamps).
    """

    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    allow_mass_delete: bool = False
    append_batch: int = 256
    clock_ms: Callable[[], int] = field(default=_now_ms, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_delete_share <= 1.0:
            raise ValueError(f"max_delete_share is 0 to 1, not {self.max_delete_share}")
        if self.append_batch < 1:
            raise ValueError(f"append_batch is at least 1, not {self.append_batch}")


class Outcome(enum.Enum):
    """What comparing one object with the mirror decides."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    KEPT = "kept"


def decide(snap: Snapshot, record: EntityRecord | None) -> Outcome:
    """Compares a snapshot with the mirror's record (the table of the module's docstring).

    An object without `updated_at` is never newer than what the mirror holds:
    it creates an entity never seen, and changes nothing else.
    """
    if record is None:
        return Outcome.CREATE
    newer = snap.updated_at is not None and snap.updated_at > record.updated_at
    if record.deleted:
        return Outcome.CREATE if newer else Outcome.KEPT
    if snap.payload is not None and snap.state == record.state:  # serialized once, here
        return Outcome.UNCHANGED
    return Outcome.UPDATE if newer else Outcome.KEPT


async def run_pass(
    store: Store,
    api: ClerkApi,
    kinds: Sequence[str],
    pass_id: str,
    settings: PassSettings | None = None,
    *,
    report: PassReport | None = None,
    journal: PassJournal | None = None,
) -> PassReport:
    """Reconciles `kinds` (registry names, in that order) with the Backend API.

    Args:
        store: The relay's store (the mirror and the log).
        api: A Backend API client.
        kinds: Kinds with an instance-wide listing (`LIST_ENDPOINTS`).
        pass_id: The pass's id, 1–64 of `A-Z a-z 0-9 . _ : -`; in every event
            it appends and in their ids.
        settings: The guard and batching; the defaults when None.
        report: The report to fill in as the pass goes (a caller may read it
            meanwhile, to show progress); a new one when None.
        journal: Where the pass's progress is saved: a resumed pass's, or a
            new one's (`PassJournal.start`); None starts one here.

    Returns:
        What the pass did per kind, and what stopped it, if anything.

    Raises:
        ValueError: A kind cannot be listed, the pass id is malformed, or the
            journal is another pass's.
    """
    check_pass_id(pass_id)
    unlisted = [kind for kind in kinds if kind not in LIST_ENDPOINTS]
    if unlisted:
        raise ValueError(f"kinds without an instance-wide listing: {', '.join(unlisted)}")
    if journal is not None and (journal.pass_id, journal.kinds) != (pass_id, tuple(kinds)):
        raise ValueError(f"the journal is pass {journal.pass_id}'s, not {pass_id}'s")
    settings = settings or PassSettings()
    report = report if report is not None else PassReport(pass_id)
    try:
        journal = journal or await PassJournal.start(
            store,
            pass_id,
            kinds,
            trigger="rpc",
            allow_mass_delete=settings.allow_mass_delete,
            max_delete_share=settings.max_delete_share,
        )
    except StoreError as error:
        report.error = f"the store failed: {error}"
        return report
    for kind in kinds:
        kind_report = report.kinds[kind] = journal.report(kind)
        if journal.kind(kind).status in (KIND_DONE, KIND_FAILED):
            continue  # ended before the relay restarted
        try:
            await _KindPass(store, api, kind, pass_id, settings, kind_report, journal).run()
        except (BadKey, ApiUnavailable) as error:
            kind_report.error = report.error = error.message
        except ClerkApiError as error:
            kind_report.error = error.message
        except StoreError as error:
            kind_report.error = report.error = f"the store failed: {error}"
        try:
            await journal.kind_ended(kind_report)
        except StoreError as error:
            if report.error is None:
                kind_report.error = report.error = f"the store failed: {error}"
        _log.info("%s", kind_report.line(pass_id))
        if report.error is not None:
            break
    outcome = "failed" if report.error else "completed" if report.completed else "incomplete"
    with contextlib.suppress(StoreError):  # then it is resumed at the next start-up
        await journal.ended(outcome)
    return report


async def _next_page(pages: AsyncIterator[ListedPage]) -> ListedPage | None:
    """The listing's next page, or None at its end."""
    return await anext(pages, None)


class _KindPass:
    """One kind's listing, comparisons and deletions, appending as it goes."""

    def __init__(
        self,
        store: Store,
        api: ClerkApi,
        kind: str,
        pass_id: str,
        settings: PassSettings,
        report: KindReport,
        journal: PassJournal,
    ) -> None:
        self._store = store
        self._api = api
        self._kind = kind
        self._pass_id = pass_id
        self._settings = settings
        self._report = report
        self._journal = journal
        self._repairs = RepairQueue(store, report, journal, settings.append_batch)

    async def run(self) -> None:
        report, saved = self._report, self._journal.kind(self._kind)
        start = ListPosition()
        if saved.status == KIND_LISTING:
            try:
                start = ListPosition.from_text(saved.position)
            except ValueError as error:
                _log.warning("reconcile %s: %s listed again: %s", self._pass_id, self._kind, error)
        if start.at_start:
            report.head_at_start = await self._store.head()
        else:
            report.resumed = True  # head_at_start as saved when the listing began
        await self._journal.listing(report, start)
        listed: set[str] = set()
        pages = cast(AsyncGenerator[ListedPage, None], self._api.list_pages(self._kind, start))
        async with contextlib.aclosing(pages):
            coming = asyncio.ensure_future(_next_page(pages))  # fetched while a page is compared
            try:
                while (page := await coming) is not None:
                    coming = asyncio.ensure_future(_next_page(pages))
                    await self._compare_page(page.objects)
                    listed.update(item["id"] for item in page.objects)
                    await self._repairs.page_done(page.position, idle=not coming.done())
            finally:
                if not coming.done():
                    coming.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await coming
                elif not coming.cancelled():
                    coming.exception()  # retrieved: raised above, or moot after another error
                await self._repairs.drain()
        report.complete = True
        if not report.resumed:
            await self._delete_missing(listed)

    async def _compare_page(self, items: Sequence[ApiObject]) -> None:
        """Compares a page's objects with the mirror's records (read at once), queuing repairs."""
        report = self._report
        records = await self._store.get_entities(self._kind, [item["id"] for item in items])
        snaps: list[Snapshot] = []
        for item in items:
            report.scanned += 1
            linked = with_mirror_links(self._kind, item, records.get(item["id"]))
            try:
                snaps.append(snapshot(self._kind, linked, self._pass_id, self._settings.clock_ms()))
            except TooDeep:
                report.unwritable += 1
                _log.warning(
                    "reconcile %s: %s %s is nested too deeply to store; skipped",
                    self._pass_id,
                    self._kind,
                    item["id"],
                )
        for snap in snaps:
            outcome = decide(snap, records.get(snap.id))
            if outcome is Outcome.UNCHANGED:
                report.unchanged += 1
            elif outcome is Outcome.KEPT:
                report.kept += 1
            else:
                if snap.payload is None:
                    report.untyped += 1
                change = Change.CREATED if outcome is Outcome.CREATE else Change.UPDATED
                await self._repairs.append(change, snap.event_for(change, self._pass_id))

    async def _delete_missing(self, listed: set[str]) -> None:
        """Deletes live entities the listing did not contain (see the module's docstring)."""
        report = self._report
        live = 0
        candidates: list[str] = []
        after = ""
        while True:
            page = await self._store.live_sequences(self._kind, after, _LIVE_PAGE)
            for entity_id, event_sequence in page:
                live += 1
                if entity_id in listed:
                    continue
                report.missing += 1
                if event_sequence > report.head_at_start:
                    report.spared += 1
                else:
                    candidates.append(entity_id)
            if len(page) < _LIVE_PAGE:
                break
            after = page[-1][0]
        if not candidates:
            return
        kind = KIND_BY_NAME[self._kind]
        if not deletable(kind):
            report.undeletable = len(candidates)
            return
        share = self._settings.max_delete_share
        if len(candidates) > share * live and not self._settings.allow_mass_delete:
            report.refused = len(candidates)
            report.refusal = (
                f"{len(candidates)} of {live} live {kind.plural} ({len(candidates) / live:.1%}) "
                f"are missing from the listing, over the {share:.0%} limit: none deleted "
                "(allow_mass_delete deletes them)"
            )
            return
        listed_at_ms = self._settings.clock_ms()
        for entity_id in candidates:
            # Read again: a webhook may have changed it since the page above.
            current, _ = await self._store.get_entity(self._kind, entity_id)
            if current is None or current.deleted:
                continue
            if current.event_sequence > report.head_at_start:
                report.spared += 1
                continue
            event = deleted_event(current, self._pass_id, listed_at_ms)
            await self._repairs.append(Change.DELETED, event)
        await self._repairs.drain()
