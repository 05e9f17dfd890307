"""Batch threads: a thread whose wakeups never preempt the event loop's.

Some threads of a relay process wake once or more per event for work whose
result only the asyncio event loop takes: the SQLite store's writer (each
commit) and grpc.aio's completion-queue poller (each stream message sent, each
call's end; see `service.scheduling`). On a busy core, a thread that wakes
preempts the one running, so at 500 webhooks/s with 10 streams the event
loop's thread was preempted about 20 times per webhook, each a pair of context
switches that also evicts what the loop had in the CPU's caches. The loop
cannot take what they hand over before it waits for events again anyway.

Linux's `SCHED_BATCH` policy is that: a batch thread gets its fair share of
the CPU like any other, but its wakeup never preempts a running thread; it
runs when the loop waits (or at the end of the loop's time slice), and the
poller then hands over every completion that arrived meanwhile at once.
Measured with `python -m bench --only latency`, in turn with the code before,
on one core: the relay's CPU per webhook at 500/s with 10 streams 1,200 →
1,100, 1,192 → 1,152 and 1,156 → 1,112 µs with the poller a batch thread, then,
against that, 1,148 → 1,100 and 1,096 → 1,076 µs with the writer one too; the
end-to-end p99 within the noise; ingest at saturation and a backfill (the
writer's busiest work) unchanged. With a core to spare, a batch thread runs
there at once, as before.
"""

from __future__ import annotations

import logging
import os

__all__ = ["batch_thread", "batch_this_thread"]

_log = logging.getLogger("clerk_relay")


def batch_this_thread() -> bool:
    """Makes the calling thread a batch thread (an executor's initializer); False if it cannot."""
    return batch_thread(0, "this thread")


def batch_thread(thread_id: int, what: str) -> bool:
    """Sets `SCHED_BATCH` on a thread (its native id; 0: the caller); False if it cannot.

    A platform without the policy, or a refusal, leaves the thread as it is
    (logged, naming it as `what`): the relay works the same, with more preemptions.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return False
    try:
        os.sched_setscheduler(thread_id, policy, os.sched_param(0))
    except OSError as error:
        _log.info("%s keeps its scheduling policy: %s", what, error)
        return False
    return True
