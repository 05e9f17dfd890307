"""Reconciliation passes as the store keeps them: enough to resume one after a restart.

A pass (`service.reconcile`) saves a `PassCheckpoint` when it starts, after
every page it has compared and appended, and when it ends. The store keeps
the newest checkpoint of each pass in two tables, `reconcile_passes` (one row
per pass) and `reconcile_pass_kinds` (one row per kind it was asked for, in
order), and gives back the newest pass still `running`: a pass whose process
died before it could say it ended. A pass that ends removes the ended passes
beyond the newest `ENDED_PASSES_KEPT`, so the tables stay small.

The store does not read the paging position or the counts: they are the
reconciler's text (`position`, `counts`), kept as given.

`PassLock` is the right to run a pass on this database: one at a time, across
every process that shares it (`Store.lock_passes`). `LocalPassLock` is the
in-process one of a store that only one process opens (SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ENDED_PASSES_KEPT",
    "KIND_DONE",
    "KIND_FAILED",
    "KIND_LISTING",
    "KIND_PENDING",
    "KIND_PASS_COLUMNS",
    "PASS_COLUMNS",
    "PASS_RUNNING",
    "KindCheckpoint",
    "LocalPassLock",
    "PassCheckpoint",
    "PassLock",
    "checkpoint_from_rows",
    "kind_rows",
    "old_passes_sql",
    "pass_row",
]

PASS_RUNNING = "running"
"""The status of a pass that has not ended (any other status is an end)."""

KIND_PENDING = "pending"
"""A kind the pass has not reached yet."""
KIND_LISTING = "listing"
"""A kind whose listing (and then its deletions) is under way."""
KIND_DONE = "done"
"""A kind the pass finished."""
KIND_FAILED = "failed"
"""A kind whose listing failed: the pass went on without it."""

PASS_COLUMNS = (
    "pass_id, trigger, allow_mass_delete, max_delete_share, status, started_at_ms, updated_at_ms"
)
KIND_PASS_COLUMNS = "pass_id, ordinal, kind, status, position, head_at_start, counts"

ENDED_PASSES_KEPT = 20
"""How many ended passes the store keeps, the newest by start; nothing reads them
but an operator looking into the database."""


def old_passes_sql(no_limit: str) -> str:
    """The query of the ids of the ended passes beyond the newest `ENDED_PASSES_KEPT`.

    Args:
        no_limit: The backend's `LIMIT` for every row (`-1` SQLite, `ALL` PostgreSQL).
    """
    return (
        f"SELECT pass_id FROM reconcile_passes WHERE status != '{PASS_RUNNING}' "
        f"ORDER BY started_at_ms DESC, pass_id DESC LIMIT {no_limit} OFFSET {ENDED_PASSES_KEPT}"
    )


@dataclass(frozen=True, slots=True)
class KindCheckpoint:
    """One kind of a pass, as far as it got.

    Attributes:
        kind: The registry's kind name.
        status: `pending`, `listing`, `done` or `failed`.
        position: Where the listing continues from (the reconciler's text;
            empty: from the start).
        head_at_start: The log's head when the kind's listing began.
        counts: The kind's counts so far (the reconciler's JSON text).
    """

    kind: str
    status: str = KIND_PENDING
    position: str = ""
    head_at_start: int = 0
    counts: str = "{}"


@dataclass(frozen=True, slots=True)
class PassCheckpoint:
    """A pass, as far as it got.

    Attributes:
        pass_id: The pass's id.
        trigger: What started it (`startup`, `interval`, `rpc`).
        allow_mass_delete: It may delete past the mass-delete guard.
        max_delete_share: The guard's share it runs with.
        status: `running` until it ends; then how it ended.
        started_at_ms: When it started (ms since the epoch).
        updated_at_ms: When this checkpoint was saved.
        kinds: The kinds it was asked for, in the order it takes them.
    """

    pass_id: str
    trigger: str
    allow_mass_delete: bool
    max_delete_share: float
    status: str
    started_at_ms: int
    updated_at_ms: int
    kinds: tuple[KindCheckpoint, ...]

    @property
    def running(self) -> bool:
        """It has not ended."""
        return self.status == PASS_RUNNING


def pass_row(checkpoint: PassCheckpoint) -> tuple[object, ...]:
    """The `reconcile_passes` row of a checkpoint, in `PASS_COLUMNS` order."""
    c = checkpoint
    return (
        c.pass_id,
        c.trigger,
        c.allow_mass_delete,
        c.max_delete_share,
        c.status,
        c.started_at_ms,
        c.updated_at_ms,
    )


def kind_rows(checkpoint: PassCheckpoint) -> list[tuple[object, ...]]:
    """The `reconcile_pass_kinds` rows of a checkpoint, in `KIND_PASS_COLUMNS` order."""
    return [
        (checkpoint.pass_id, ordinal, k.kind, k.status, k.position, k.head_at_start, k.counts)
        for ordinal, k in enumerate(checkpoint.kinds)
    ]


def checkpoint_from_rows(row: Sequence[Any], kinds: Sequence[Sequence[Any]]) -> PassCheckpoint:
    """A checkpoint from its pass row and its kind rows (both in their columns' order)."""
    return PassCheckpoint(
        pass_id=row[0],
        trigger=row[1],
        allow_mass_delete=bool(row[2]),
        max_delete_share=float(row[3]),
        status=row[4],
        started_at_ms=int(row[5]),
        updated_at_ms=int(row[6]),
        kinds=tuple(
            KindCheckpoint(k[2], k[3], k[4], int(k[5]), k[6])
            for k in sorted(kinds, key=lambda k: int(k[1]))
        ),
    )


class PassLock(Protocol):
    """The right to run a reconciliation pass on the database, until released."""

    async def check(self) -> None:
        """Returns while the right holds.

        Raises:
            StoreUnavailable: It was lost (PostgreSQL: the session that held
                it ended), so another process may be running a pass.
        """
        ...

    async def release(self) -> None:
        """Gives the right up (idempotent)."""
        ...


class LocalPassLock:
    """The pass lock of a store only one process opens: held by at most one pass of it."""

    def __init__(self) -> None:
        self._holder: _LocalHold | None = None

    def acquire(self) -> PassLock | None:
        """Takes the lock; None when a pass holds it already."""
        if self._holder is not None:
            return None
        self._holder = _LocalHold(self)
        return self._holder

    def _released(self, hold: _LocalHold) -> None:
        if self._holder is hold:
            self._holder = None


class _LocalHold:
    """One acquisition of a `LocalPassLock`."""

    def __init__(self, lock: LocalPassLock) -> None:
        self._lock = lock

    async def check(self) -> None:
        """Returns: only this process opens the file, and nothing in it takes the lock away."""

    async def release(self) -> None:
        """Gives the lock up (a second call does nothing)."""
        self._lock._released(self)
