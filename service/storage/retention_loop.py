"""The retention loop both stores run: trim the log every so often, log what happened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from service.storage.interface import StoreError

__all__ = ["trim_periodically"]

_log = logging.getLogger("clerk_relay.store")


async def trim_periodically(trim: Callable[[], Awaitable[int]], interval_s: float) -> None:
    """Calls `trim` every `interval_s` seconds until cancelled.

    A trim that fails (`StoreError`) is logged and tried again next time; the
    number of events removed is logged when it is not zero.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = await trim()
        except StoreError as error:
            _log.warning("retention trim failed: %s", error)
        else:
            if removed:
                _log.info("retention trimmed %d events", removed)
