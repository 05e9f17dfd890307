"""`ReconcileService.Reconcile`: a reconciliation pass on demand, its progress streamed.

The servicer checks the request (kinds by their registry names, each listable
for the whole instance), starts a pass through the process's `Reconciliation`
(one at a time: ABORTED when one runs; FAILED_PRECONDITION when the relay has
no secret key, so no `Reconciliation`), then, while the pass runs, sends each
kind's counts when they changed, at most every `progress_interval_s`, and,
once it has ended, every kind's final counts and the summary. A pass that
fails still ends with its summary (its `error` says why) and status OK. When
the caller leaves, the pass is cancelled. Only admins reach it when auth is
on (`service.auth`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import grpc

from clerkrelay.v1 import reconcile_service_pb2_grpc
from clerkrelay.v1.reconcile_service_pb2 import (
    DESCRIPTOR,
    KindProgress,
    ReconcileRequest,
    ReconcileResponse,
    ReconcileSummary,
)
from service.errors import Aborted, FailedPrecondition, InvalidArgument, quoted
from service.reconcile.endpoints import LIST_ENDPOINTS, UNLISTABLE_KINDS
from service.reconcile.report import KindReport
from service.reconcile.scheduler import ActivePass, PassRunning, Reconciliation

__all__ = ["SERVICE_NAME", "ReconcileServicer", "kind_progress"]

SERVICE_NAME: str = DESCRIPTOR.services_by_name["ReconcileService"].full_name
"""`clerkrelay.v1.ReconcileService`."""

_NO_KEY = (
    "reconciliation is off: the relay has no Backend API secret key "
    "(set CLERK_SECRET_KEY where the relay runs, then restart it)"
)
_log = logging.getLogger("clerk_relay.reconcile")

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[ReconcileRequest, ReconcileResponse]


def _kinds(names: Iterable[str]) -> list[str]:
    """The requested kinds, checked; empty for every listable kind.

    Raises:
        InvalidArgument: A name is not a kind, or its kind cannot be listed.
    """
    kinds: list[str] = []
    for name in names:
        if name in UNLISTABLE_KINDS:
            raise InvalidArgument(f"{name} cannot be reconciled: {UNLISTABLE_KINDS[name]}")
        if name not in LIST_ENDPOINTS:
            listable = ", ".join(LIST_ENDPOINTS)
            raise InvalidArgument(f"unknown kind {quoted(name)} (kinds: {listable})")
        if name not in kinds:
            kinds.append(name)
    return kinds


def kind_progress(report: KindReport, total: int, *, done: bool) -> KindProgress:
    """One kind's counts as the RPC sends them."""
    return KindProgress(
        kind=report.kind,
        total=total,
        scanned=report.scanned,
        created=report.created,
        updated=report.updated,
        deleted=report.deleted,
        unchanged=report.unchanged,
        kept=report.kept,
        not_deleted=report.spared + report.undeletable + report.refused,
        untyped=report.untyped + report.unwritable,
        done=done,
        refusal=report.refusal or "",
        error=report.error or "",
    )


class ReconcileServicer(reconcile_service_pb2_grpc.ReconcileServiceServicer):
    """Runs passes on demand (register with `add_ReconcileServiceServicer_to_server`).

    Args:
        reconciliation: The process's passes; None when no secret key is configured.
        progress_interval_s: The least time between two progress messages of a kind.
    """

    __slots__ = ("_progress_interval_s", "_reconciliation")

    def __init__(
        self, reconciliation: Reconciliation | None, progress_interval_s: float = 0.25
    ) -> None:
        self._reconciliation = reconciliation
        self._progress_interval_s = progress_interval_s

    async def Reconcile(  # noqa: N802 - gRPC method name
        self, request: ReconcileRequest, context: _Context
    ) -> AsyncIterator[ReconcileResponse]:
        """Runs a pass, streaming each kind's progress, then the summary."""
        kinds = _kinds(request.kinds)
        if self._reconciliation is None:
            raise FailedPrecondition(_NO_KEY)
        try:
            active = await self._reconciliation.start_pass(
                kinds, allow_mass_delete=request.allow_mass_delete, trigger="rpc"
            )
        except PassRunning as error:
            raise Aborted(str(error)) from None
        try:
            sent: dict[str, KindProgress] = {}
            while not active.task.done():
                await asyncio.wait([active.task], timeout=self._progress_interval_s)
                for progress in _progress(active, ended=False):
                    if sent.get(progress.kind) != progress:
                        sent[progress.kind] = progress
                        yield ReconcileResponse(progress=progress)
            if active.task.cancelled():
                raise Aborted(f"pass {active.report.pass_id} was cancelled: the relay is stopping")
            report = active.task.result()
            final = _progress(active, ended=True)
            for progress in final:
                if sent.get(progress.kind) != progress:
                    yield ReconcileResponse(progress=progress)
            yield ReconcileResponse(
                summary=ReconcileSummary(
                    pass_id=report.pass_id,
                    completed=report.completed,
                    error=report.error or "",
                    kinds=final,
                    appended=report.appended,
                )
            )
        finally:
            if not active.task.done():
                _log.warning(
                    "reconcile pass=%s: the caller left, the pass is cancelled",
                    active.report.pass_id,
                )
                active.task.cancel()


def _progress(active: ActivePass, *, ended: bool) -> list[KindProgress]:
    """Every kind the pass reached: all but the last are done, and the last once it ended."""
    reports = list(active.report.kinds.values())
    totals = active.api.counters.totals
    return [
        kind_progress(report, totals.get(report.kind, 0), done=ended or index < len(reports) - 1)
        for index, report in enumerate(reports)
    ]
