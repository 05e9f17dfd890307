"""One process's reconciliation: a pass at a time, at start-up, on a schedule, or asked for.

`Reconciliation` owns the passes of the process that owns the store (`serve`,
or `grpc` in the split deployment), built by `RelayServer` when a secret key is
configured:

- `run_schedule()`, a background task: at start-up, the pass a relay left
  unfinished (killed mid-pass: `resume_unfinished`), if any, else a backfill
  when the log is empty (nothing ever stored: a new mirror); then one every
  `ReconcileSettings.interval_s` (none with 0). It never delays the server's
  readiness, and a pass that fails is one line in the log; the next one is
  at the next interval.
- `start_pass(kinds, …)`: a pass now (the `Reconcile` RPC). `PassRunning`
  when one is already running, whoever started it: one pass at a time per
  database, in this process (a guard) and across the processes sharing the
  database (the store's pass lock, `Store.lock_passes`, held for the whole
  pass and released when its process dies).

Each pass gets its own Backend API client (its own counters), an id made of
its start time and a random suffix (`20261202T121500Z.3f2a`), its progress in
the store (`service.reconcile.journal`), its log lines (one per kind from the
reconciler, then one for the pass) and its metrics. A pass that fails leaves
what it appended (each a snapshot applied by newest-wins) and deletes nothing
of a kind whose listing failed. A pass whose caller leaves ends `cancelled`;
one cut short by the relay stopping stays unfinished and resumes at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service.reconcile.clerk_api import ApiSettings, ClerkApi
from service.reconcile.endpoints import LIST_ENDPOINTS
from service.reconcile.journal import ABANDONED, CANCELLED, PassJournal
from service.reconcile.metrics import ReconcileMetrics
from service.reconcile.reconciler import PassSettings, run_pass
from service.reconcile.report import PassReport
from service.reconcile.settings import ReconcileSettings
from service.storage import PassLock, Store, StoreError

__all__ = ["ActivePass", "PassRunning", "Reconciliation", "new_pass_id"]

_log = logging.getLogger("clerk_relay.reconcile")


def new_pass_id(now: datetime | None = None) -> str:
    """A pass id: its start time in UTC and 4 random hex digits (`20261202T121500Z.3f2a`)."""
    moment = now or datetime.now(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}.{secrets.token_hex(2)}"


class PassRunning(Exception):
    """Another pass is running in this process: one at a time."""


@dataclass(slots=True)
class ActivePass:
    """A pass under way.

    Attributes:
        report: Filled in as the pass goes (read it for progress).
        api: The pass's Backend API client (`api.counters.totals`: Clerk's
            count of each kind's objects, once its first page arrived).
        trigger: What started it: `startup`, `interval`, `rpc`, or `resume` (a pass
            left unfinished by a relay that stopped or died, resumed).
        task: Ends with the report when the pass ends.
    """

    report: PassReport
    api: ClerkApi
    trigger: str
    task: asyncio.Task[PassReport] = field(init=False)


class Reconciliation:
    """The passes of one process (see the module's docstring).

    Args:
        store: The store the passes reconcile; owned by the caller.
        settings: The key, the API, the schedule, the budget and the guard.
        metrics: Where passes are counted; a private registry when None.
        api_factory: Builds a pass's Backend API client (tests pass their own).
    """

    def __init__(
        self,
        store: Store,
        settings: ReconcileSettings,
        metrics: ReconcileMetrics | None = None,
        *,
        api_factory: Callable[[ApiSettings], ClerkApi] = ClerkApi,
    ) -> None:
        self._store = store
        self.settings = settings
        self.metrics = metrics or ReconcileMetrics()
        self._api_factory = api_factory
        self._active: ActivePass | None = None
        self._is_starting = False
        self._closing = False
        self._schedule: asyncio.Task[None] | None = None
        self.passes = 0
        """Passes started so far."""

    @property
    def active(self) -> ActivePass | None:
        """The pass running now, if any."""
        return self._active

    async def start_pass(
        self, kinds: Sequence[str] = (), *, allow_mass_delete: bool = False, trigger: str = "rpc"
    ) -> ActivePass:
        """Starts a pass over `kinds` (every listable kind when empty) and returns it at once.

        Raises:
            PassRunning: A pass is running already, in this process or in
                another one on the same database.
            ValueError: A kind has no instance-wide listing.
            StoreError: The store failed (nothing started).
        """
        chosen = tuple(kinds) or tuple(LIST_ENDPOINTS)
        unlisted = [kind for kind in chosen if kind not in LIST_ENDPOINTS]
        if unlisted:
            raise ValueError(f"kinds without an instance-wide listing: {', '.join(unlisted)}")
        async with self._starting():
            lock = await self._store.lock_passes()
            if lock is None:
                raise await self._running_elsewhere()
            try:
                journal = await PassJournal.start(
                    self._store,
                    new_pass_id(),
                    chosen,
                    trigger=trigger,
                    allow_mass_delete=allow_mass_delete,
                    max_delete_share=self.settings.max_delete_share,
                    lock=lock,
                )
            except BaseException:
                await lock.release()
                raise
            pass_settings = self.settings.pass_settings(allow_mass_delete=allow_mass_delete)
            return self._launch(journal, lock, pass_settings, trigger)

    async def resume_unfinished(self) -> ActivePass | None:
        """Resumes the newest pass a relay left unfinished (killed mid-pass), if any.

        None when there is none, or when a pass runs already (here or in
        another process on the database: that one is resumed later, if need be).

        Raises:
            StoreError: The store failed (nothing resumed).
        """
        if self._active is not None or self._is_starting:
            return None
        async with self._starting():
            lock = await self._store.lock_passes()
            if lock is None:
                return None
            try:
                checkpoint = await self._store.unfinished_pass()
                if checkpoint is not None and any(
                    saved.kind not in LIST_ENDPOINTS for saved in checkpoint.kinds
                ):
                    _log.warning("reconcile: pass %s cannot be resumed", checkpoint.pass_id)
                    await PassJournal.resume(self._store, checkpoint).ended(ABANDONED)
                    checkpoint = None
            except BaseException:
                await lock.release()
                raise
            if checkpoint is None:
                await lock.release()
                return None
            _log.info("reconcile: resuming pass %s", checkpoint.pass_id)
            pass_settings = dataclasses.replace(
                self.settings.pass_settings(allow_mass_delete=checkpoint.allow_mass_delete),
                max_delete_share=checkpoint.max_delete_share,
            )
            journal = PassJournal.resume(self._store, checkpoint, lock)
            return self._launch(journal, lock, pass_settings, "resume")

    @contextlib.asynccontextmanager
    async def _starting(self) -> AsyncIterator[None]:
        """The in-process guard while a pass is being started (one at a time)."""
        if self._active is not None:
            raise PassRunning(
                f"a reconciliation pass is already running (pass {self._active.report.pass_id}, "
                f"started by {self._active.trigger}): wait for it to end"
            )
        if self._is_starting:
            raise PassRunning("a reconciliation pass is already starting: wait for it to end")
        self._is_starting = True
        try:
            yield
        finally:
            self._is_starting = False

    async def _running_elsewhere(self) -> PassRunning:
        """The error for a pass lock held by another process, naming its pass when known."""
        try:
            other = await self._store.unfinished_pass()
        except StoreError:
            other = None
        named = f"pass {other.pass_id}, " if other is not None else ""
        return PassRunning(
            f"a reconciliation pass is already running ({named}in another relay process "
            "on this database): wait for it to end"
        )

    def _launch(
        self, journal: PassJournal, lock: PassLock, pass_settings: PassSettings, trigger: str
    ) -> ActivePass:
        active = ActivePass(
            PassReport(journal.pass_id), self._api_factory(self.settings.api_settings()), trigger
        )
        active.task = asyncio.create_task(
            self._run(active, journal, lock, pass_settings), name=f"reconcile-{trigger}"
        )
        self._active = active
        self.passes += 1
        self.metrics.started()
        return active

    async def _run(
        self, active: ActivePass, journal: PassJournal, lock: PassLock, pass_settings: PassSettings
    ) -> PassReport:
        report, started = active.report, time.monotonic()
        outcome = "failed"
        try:
            async with active.api:
                await run_pass(
                    self._store,
                    active.api,
                    journal.kinds,
                    report.pass_id,
                    pass_settings,
                    report=report,
                    journal=journal,
                )
            outcome = (
                "failed" if report.error else "completed" if report.completed else "incomplete"
            )
            return report
        except asyncio.CancelledError:
            outcome = "cancelled"
            if not self._closing:  # the caller left; a relay stopping resumes it at start-up
                with contextlib.suppress(StoreError):
                    await journal.ended(CANCELLED)
            raise
        finally:
            await lock.release()
            self._active = None
            self.metrics.ended(
                report,
                active.api.counters,
                trigger=active.trigger,
                outcome=outcome,
                ended_at_s=time.time(),
            )
            reason = report.error or next(
                (f"{k.kind}: {k.error}" for k in report.kinds.values() if k.error), ""
            )
            level = logging.INFO if outcome == "completed" else logging.WARNING
            _log.log(
                level,
                "reconcile pass=%s trigger=%s outcome=%s appended=%d elapsed_s=%.1f%s",
                report.pass_id,
                active.trigger,
                outcome,
                report.appended,
                time.monotonic() - started,
                f' reason="{reason}"' if reason else "",
            )

    def start_schedule(self) -> None:
        """Starts `run_schedule` in the background (once)."""
        if self._schedule is None:
            self._schedule = asyncio.create_task(self.run_schedule(), name="reconcile-schedule")

    async def run_schedule(self) -> None:
        """Resumes an unfinished pass, or backfills an empty mirror; then a pass every interval.

        At each interval, too, a pass left unfinished (by another process on
        the database that died) is resumed instead of starting a new one.
        """
        if not await self._scheduled("resume"):
            try:
                empty = await self._store.head() == 0
            except StoreError as error:
                _log.warning("reconcile: cannot tell whether the mirror is empty: %s", error)
                empty = False
            if empty:
                await self._scheduled("startup")
        interval_s = self.settings.interval_s
        if interval_s <= 0:
            return
        while True:
            await asyncio.sleep(interval_s)
            if not await self._scheduled("resume"):
                await self._scheduled("interval")

    async def _scheduled(self, trigger: str) -> bool:
        """Runs a pass (`resume`: the unfinished one, if any) and waits; False if none ran."""
        try:
            if trigger == "resume":
                active = await self.resume_unfinished()
                if active is None:
                    return False
            else:
                active = await self.start_pass(trigger=trigger)
        except PassRunning as error:
            _log.info("reconcile: %s pass skipped: %s", trigger, error)
            return False
        except StoreError as error:
            _log.warning("reconcile: %s pass not started: %s", trigger, error)
            return False
        try:
            await asyncio.shield(active.task)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("reconcile: the %s pass failed unexpectedly", trigger)
        return True

    async def close(self) -> None:
        """Stops the schedule and any pass under way (what it appended stays; it resumes)."""
        self._closing = True
        tasks = [task for task in (self._schedule, self._active and self._active.task) if task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
