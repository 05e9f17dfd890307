"""What a reconciliation pass did, per kind: the counts, the refusals and the errors.

A `PassReport` is what `run_pass` returns; the later slices read it (the
command line prints it, the metrics export it). Each `KindReport` also has a
one-line summary for the relay's log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KIND_COUNTS", "KindReport", "PassReport"]


KIND_COUNTS = (
    "scanned",
    "created",
    "updated",
    "deleted",
    "unchanged",
    "kept",
    "untyped",
    "unwritable",
    "stale",
    "missing",
    "spared",
    "undeletable",
    "refused",
)
"""The counters of a `KindReport`, in the order its log line gives them."""


@dataclass(slots=True)
class KindReport:
    """One kind's share of a pass.

    Attributes:
        kind: The registry's kind name.
        scanned: Objects the listing yielded.
        created: `.created` events appended: entities the mirror never saw
            (or held as a tombstone older than the snapshot).
        updated: `.updated` events appended: newer state than the mirror's.
        deleted: `.deleted` events appended: live entities the complete
            listing did not contain.
        unchanged: Objects whose typed state was the mirror's already.
        kept: Objects not newer than what the mirror holds (a newer state, or
            a tombstone as new or newer): the mirror was left as it is.
        untyped: Objects whose payload the converter left out: stored raw,
            once per version, never in the mirror.
        unwritable: Objects nested too deeply to write back as JSON text (a
            `raw_body`): skipped, logged, the mirror unchanged.
        stale: Appended events that a newer one (a webhook arriving meanwhile)
            had already superseded: logged, the mirror unchanged.
        duplicates: Events already in the log (the same pass run again).
        missing: Live mirror entities the listing did not contain.
        spared: Of those, entities changed after the listing began: never deleted.
        undeletable: Of those, entities of a kind Clerk sends no `.deleted`
            webhook for (it changes their status instead): not deleted.
        refused: Deletions withheld by the mass-delete guard.
        refusal: Why the guard refused, or None.
        complete: The listing ended without an error (deletions need it).
        error: Why the kind failed, or None.
        head_at_start: The log's head when the listing began.
        resumed: The listing was resumed after a restart, from where the
            relay that died had got to: not one complete listing, so the kind
            deleted nothing (the next pass does).
    """

    kind: str
    scanned: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    kept: int = 0
    untyped: int = 0
    unwritable: int = 0
    stale: int = 0
    duplicates: int = 0
    missing: int = 0
    spared: int = 0
    undeletable: int = 0
    refused: int = 0
    refusal: str | None = None
    complete: bool = False
    error: str | None = None
    head_at_start: int = 0
    resumed: bool = False

    @property
    def appended(self) -> int:
        """Events this kind added to the log."""
        return self.created + self.updated + self.deleted

    def line(self, pass_id: str) -> str:
        """The kind's log line: `key=value` pairs, the reason last."""
        outcome = "failed" if self.error else ("refused" if self.refusal else "ok")
        counts = " ".join(f"{name}={getattr(self, name)}" for name in KIND_COUNTS)
        reason = self.error or self.refusal
        if reason is None and self.resumed:
            reason = "resumed after a restart: not one complete listing, so nothing deleted"
        tail = f' reason="{reason}"' if reason else ""
        return f"reconcile pass={pass_id} kind={self.kind} outcome={outcome} {counts}{tail}"


@dataclass(slots=True)
class PassReport:
    """A whole pass.

    Attributes:
        pass_id: The pass's id (in every event it appended).
        kinds: Each kind the pass reached, in the order it reached them.
        error: What stopped the pass (a refused key, an unreachable API or
            store), or None. Kinds after the one that failed are not reached.
    """

    pass_id: str
    kinds: dict[str, KindReport] = field(default_factory=dict)
    error: str | None = None

    @property
    def completed(self) -> bool:
        """Every kind was listed completely (refused deletions aside)."""
        return self.error is None and all(report.complete for report in self.kinds.values())

    @property
    def refusals(self) -> dict[str, str]:
        """The kinds whose deletions the mass-delete guard refused, with the reason."""
        return {kind: report.refusal for kind, report in self.kinds.items() if report.refusal}

    @property
    def appended(self) -> int:
        """Events the pass added to the log."""
        return sum(report.appended for report in self.kinds.values())
