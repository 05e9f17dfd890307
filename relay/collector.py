"""The garbage collector's settings for the relay's long-running processes.

A webhook keeps about 40 containers alive until it is stored (the parsed
JSON, the rows around it), and a backfill's page of 500 users about 8,000
(counted with `gc.get_count`, 2026-12-03). Reference counting frees them;
CPython's cyclic collector still starts a young collection every 700 net
allocations (its default), and at most every hundredth one a full collection
that walks every object the process holds, start-up's modules, descriptors
and compiled converters included. In a backfill of 100,000 users that was
about a tenth of the relay's CPU (see the README's Backfill section).

So a server process freezes what start-up made (the full collections no
longer walk it) and collects its young generation every `YOUNG_THRESHOLD`
allocations. Cycles (an exception's traceback, a cancelled task) are still
collected, a little later. The threshold is the smallest measured that gave
the whole gain (one backfill each, 2026-12-03): 700 (freezing only) 125 µs
per user, 3,000 114 µs, 10,000 116 µs; the heap's peak stayed at 89–91 MiB up
to 3,000 and rose to 126 MiB at 10,000, the garbage of whole pages waiting
longer for its collection.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune"]

YOUNG_THRESHOLD = 3_000
"""Net container allocations between young collections (CPython's default is 700)."""


def tune() -> None:
    """Freezes every object made so far and sets the young generation's threshold."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
