"""A member of a consumer group in a process of its own, for the consumer-group chaos scenario.

    python -m tests.chaos.consumer_member TARGET GROUP LOG NAME SEED

Joins GROUP (which must exist) with the real client, and for each delivery
appends a `start` line to LOG, works for a few random milliseconds, appends
an `ack` line and acks it. Lines are JSON, each written with one `write` on
an `O_APPEND` descriptor (atomic next to the other members' lines), with
`time.monotonic_ns()` (one clock for every process of the machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

from clerkrelay import Backoff, RelayClient


async def _run(target: str, group: str, log: str, name: str, seed: int) -> None:
    rng = random.Random(seed)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(phase: str, sequence: int, user: str, attempt: int) -> None:
        line = {"m": name, "p": phase, "s": sequence, "u": user, "a": attempt}
        line["t"] = time.monotonic_ns()
        os.write(fd, (json.dumps(line) + "\n").encode())

    backoff = Backoff(initial_delay_s=0.05, max_delay_s=0.5)
    client = RelayClient(target)
    async with client, client.consume(group, create=False, member_name=name, backoff=backoff) as s:
        async for msg in s:
            user = msg.event.user_updated.id
            write("start", msg.event.sequence, user, msg.attempt)
            await asyncio.sleep(rng.random() * 0.005)
            write("ack", msg.event.sequence, user, msg.attempt)
            await msg.ack()


if __name__ == "__main__":
    target, group, log, name, seed = sys.argv[1:6]
    asyncio.run(_run(target, group, log, name, int(seed)))
