"""A pass's progress in the store, so that a relay killed mid-pass resumes it at start-up.

`PassJournal` keeps the pass's `PassCheckpoint` (`service.storage.passes`) and
saves it:

- when the pass starts: its id, trigger, options and kinds, every kind
  `pending`;
- when a kind's listing begins (`listing`, with the log's head), and after
  each page of it has been compared and its repairs appended (the position
  to continue from, and the kind's counts so far): a write per page, never
  per object;
- when a kind ends (`done` or `failed`), and when the pass ends (its outcome).

The order makes resuming safe: a page's position is saved only once the
repairs it led to are durable, so a resumed listing never skips a repair.
Should the relay die between the two, the page is listed again and its
repairs are found in the mirror already (or, appended again, deduplicated:
their ids are deterministic per pass).

A pass that ended (completed, incomplete, failed, cancelled by its caller)
is never resumed. A pass cut short by the relay stopping or dying stays
`running`, and `Reconciliation` resumes the newest such pass at start-up.
Starting a new pass marks any other pass still `running` as `abandoned`: the
new pass holds the pass lock, so no process runs them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import orjson

from service.reconcile.paging import ListPosition
from service.reconcile.report import KindReport
from service.storage import (
    KIND_DONE,
    KIND_FAILED,
    KIND_LISTING,
    PASS_RUNNING,
    KindCheckpoint,
    PassCheckpoint,
    PassLock,
    Store,
)

__all__ = ["ABANDONED", "CANCELLED", "PassJournal"]

ABANDONED = "abandoned"
"""The end of a pass left running by a process that died, found when a new pass started."""
CANCELLED = "cancelled"
"""The end of a pass whose caller left."""

_COUNTED = tuple(f.name for f in dataclasses.fields(KindReport) if f.name != "kind")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PassJournal:
    """One pass's checkpoint, saved as the pass goes (see the module's docstring).

    Build it with `start` (a new pass) or `resume` (one found unfinished).
    """

    def __init__(
        self,
        store: Store,
        checkpoint: PassCheckpoint,
        *,
        resumed: bool,
        lock: PassLock | None = None,
    ) -> None:
        self._store = store
        self._checkpoint = checkpoint
        self._lock = lock
        self.resumed = resumed
        """The pass began in an earlier process."""

    @classmethod
    async def start(
        cls,
        store: Store,
        pass_id: str,
        kinds: Sequence[str],
        *,
        trigger: str,
        allow_mass_delete: bool,
        max_delete_share: float,
        lock: PassLock | None = None,
    ) -> PassJournal:
        """Saves a new pass, every kind pending; marks other running passes abandoned.

        With `lock` (the pass lock the pass holds), every later save first
        checks that the lock still holds, and fails if it does not: a pass
        that lost it stops at its next page, leaving its checkpoint running
        for whichever process holds the lock next.

        Raises:
            StoreError: The store failed.
        """
        now = _now_ms()
        while (left := await store.unfinished_pass()) is not None and left.pass_id != pass_id:
            await store.save_pass(dataclasses.replace(left, status=ABANDONED, updated_at_ms=now))
        checkpoint = PassCheckpoint(
            pass_id=pass_id,
            trigger=trigger,
            allow_mass_delete=allow_mass_delete,
            max_delete_share=max_delete_share,
            status=PASS_RUNNING,
            started_at_ms=now,
            updated_at_ms=now,
            kinds=tuple(KindCheckpoint(kind) for kind in kinds),
        )
        await store.save_pass(checkpoint)
        return cls(store, checkpoint, resumed=False, lock=lock)

    @classmethod
    def resume(
        cls, store: Store, checkpoint: PassCheckpoint, lock: PassLock | None = None
    ) -> PassJournal:
        """The journal of a pass found unfinished (`Store.unfinished_pass`); see `start`."""
        return cls(store, checkpoint, resumed=True, lock=lock)

    @property
    def checkpoint(self) -> PassCheckpoint:
        """The checkpoint as last saved (or about to be)."""
        return self._checkpoint

    @property
    def pass_id(self) -> str:
        """The pass's id."""
        return self._checkpoint.pass_id

    @property
    def kinds(self) -> tuple[str, ...]:
        """The pass's kinds, in order."""
        return tuple(k.kind for k in self._checkpoint.kinds)

    def kind(self, kind: str) -> KindCheckpoint:
        """A kind's checkpoint.

        Raises:
            KeyError: The pass has no such kind.
        """
        for saved in self._checkpoint.kinds:
            if saved.kind == kind:
                return saved
        raise KeyError(kind)

    def report(self, kind: str) -> KindReport:
        """A kind's report with the counts saved so far (zero for a kind not begun)."""
        report = KindReport(kind)
        counts = orjson.loads(self.kind(kind).counts or "{}")
        for name in _COUNTED:
            if name in counts:
                setattr(report, name, counts[name])
        return report

    async def listing(self, report: KindReport, position: ListPosition) -> None:
        """Saves a kind's listing: where it continues from, and its counts so far."""
        await self._save_kind(report, KIND_LISTING, position.to_text())

    async def kind_ended(self, report: KindReport) -> None:
        """Saves a kind as ended: failed when its report has an error, else done."""
        await self._save_kind(report, KIND_FAILED if report.error else KIND_DONE, "")

    async def ended(self, outcome: str) -> None:
        """Saves the pass as ended with `outcome` (completed, incomplete, failed, cancelled)."""
        self._checkpoint = dataclasses.replace(
            self._checkpoint, status=outcome, updated_at_ms=_now_ms()
        )
        await self._save()

    async def _save_kind(self, report: KindReport, status: str, position: str) -> None:
        counts = orjson.dumps({name: getattr(report, name) for name in _COUNTED}).decode()
        kinds = tuple(
            KindCheckpoint(k.kind, status, position, report.head_at_start, counts)
            if k.kind == report.kind
            else k
            for k in self._checkpoint.kinds
        )
        self._checkpoint = dataclasses.replace(
            self._checkpoint, kinds=kinds, updated_at_ms=_now_ms()
        )
        await self._save()

    async def _save(self) -> None:
        if self._lock is not None:
            await self._lock.check()
        await self._store.save_pass(self._checkpoint)
