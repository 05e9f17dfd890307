"""An fsync probe beside the server under test: did the disk itself stall during a phase?

A durable relay cannot answer a webhook before its commit's fsync returns, so a
disk that stalls for 100 ms puts 100 ms into every latency percentile that
window reaches. The probe tells such stalls apart from the relay's own delays:
a thread on the load CPU writes 4 KiB to a file of its own on the same
filesystem as the relays' databases and `fdatasync`s it every 20 ms, and keeps
the duration of every fsync that took at least 10 ms. Idle, this host's fsync
takes 0.1–0.3 ms; two such probes, one on each CPU, stalled at the same moments
(2026-11-28), so a stall is the disk's, not the probe's.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from types import TracebackType

__all__ = ["STALL_S", "FsyncProbe", "describe_stalls", "longest_stall"]

STALL_S = 0.010
"""An fsync at least this long counts as a stall."""

_INTERVAL_S = 0.020
_BLOCK = b"\0" * 4096


class FsyncProbe:
    """Times an fsync every 20 ms while it runs (a context manager).

    Attributes:
        stalls_ms: How long each stalled fsync took, in milliseconds.
        probes: How many fsyncs it timed.
    """

    def __init__(self) -> None:
        self.stalls_ms: list[float] = []
        self.probes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fsync-probe", daemon=True)

    def __enter__(self) -> FsyncProbe:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        fd, path = tempfile.mkstemp(prefix="clerk-relay-bench-fsync-")
        try:
            while not self._stop.is_set():
                os.pwrite(fd, _BLOCK, 0)
                started = time.perf_counter()
                os.fdatasync(fd)
                took = time.perf_counter() - started
                self.probes += 1
                if took >= STALL_S:
                    self.stalls_ms.append(took * 1000)
                self._stop.wait(_INTERVAL_S)
        finally:
            os.close(fd)
            os.unlink(path)


def describe_stalls(windows: list[list[float]]) -> str:
    """One line on the stalls the probe saw in several timed windows."""
    stalls = [ms for window in windows for ms in window]
    if not stalls:
        return f"no fsync stall ≥ {STALL_S * 1000:g} ms in {len(windows)} windows"
    hit = sum(1 for window in windows if window)
    noun = "stall" if len(stalls) == 1 else "stalls"
    return (
        f"{len(stalls)} fsync {noun} ≥ {STALL_S * 1000:g} ms in {hit} of {len(windows)} windows "
        f"(longest {max(stalls):,.0f} ms)"
    )


def longest_stall(window: list[float]) -> str:
    """The longest stall of one window, in words."""
    return f"stall of {max(window):,.0f} ms" if window else "no stall"
