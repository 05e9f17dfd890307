"""Whether a store can append now: the outcome of its latest write, re-tried by a probe.

A store records every commit's outcome here. After a failed one (a full disk,
a lost server, a lock held too long) it is not ready until a write succeeds
again: either a later append, or the probe that `check` runs, a small write
of the store's own that stores nothing. Readiness can thus turn back by itself
while no webhook arrives (a load balancer sends none to an instance it
considers not ready).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from service.storage.interface import StoreUnavailable

__all__ = ["WriteHealth"]

Probe = Callable[[], Awaitable[None]]
"""A write that stores nothing; raises StoreUnavailable (with the reason) when it fails."""


class WriteHealth:
    """The outcome of a store's latest write.

    Args:
        probe: The store's probe write.
    """

    __slots__ = ("_failure", "_probe")

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._failure: str | None = None

    @property
    def failure(self) -> str | None:
        """Why the latest write failed; None when it succeeded."""
        return self._failure

    def succeeded(self) -> None:
        """Records a committed write."""
        self._failure = None

    def failed(self, reason: str) -> None:
        """Records a failed write, with its reason on one line."""
        self._failure = reason

    async def check(self) -> None:
        """Returns when the store can append; after a failed write, probes first.

        Raises:
            StoreUnavailable: The probe failed too; the message gives its reason.
        """
        if self._failure is None:
            return
        try:
            await self._probe()
        except StoreUnavailable as error:
            self._failure = str(error)
            raise StoreUnavailable(f"the store cannot append: {error}") from error
        self._failure = None
