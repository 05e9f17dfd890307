"""grpc.aio's poller thread never preempts the event loop (see `service.storage.threads`).

grpc.aio hands every completed operation (each stream message sent, each
call's end) from a thread of its own, the poller, to the event loop; that
thread becomes a batch thread, as the SQLite store's writer is.
"""

from __future__ import annotations

import threading

from service.storage.threads import batch_thread

__all__ = ["POLLER_SUFFIX", "batch_grpc_poller"]

POLLER_SUFFIX = "(_poll_wrapper)"
"""How the name of grpc.aio's poller thread ends (a `threading.Thread` named for its target)."""


def batch_grpc_poller() -> int:
    """Makes grpc.aio's poller threads batch threads; returns how many it changed.

    The poller starts with the process's first grpc.aio server or channel, so
    call this after creating one.
    """
    return sum(
        batch_thread(thread.native_id, "grpc's poller thread")
        for thread in threading.enumerate()
        if thread.name.endswith(POLLER_SUFFIX) and thread.native_id is not None
    )
