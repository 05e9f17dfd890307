"""A subscription outlives its server: SIGKILL, a graceful restart, a silently dropped link.

The relay is a real `clerk-relay serve` process; webhooks keep arriving while
it goes away and comes back on the same ports and database (the sender
retries like Svix, with the same webhook id). The client must yield every
sequence exactly once, in order, with no gap: it resumes after the last
position it saw, and drops anything at or below it.
"""

from __future__ import annotations

import asyncio

from clerkrelay import Backoff, Event, EventStream, RelayClient
from tests.clients.proxy import proxy_to
from tests.clients.webhooks import WebhookSender
from tests.processes import RelayProcess

FAST = Backoff(initial_delay_s=0.05, max_delay_s=0.5)


async def _consume(
    stream: EventStream, got: list[Event], until: int, milestones: dict[int, asyncio.Event]
) -> None:
    async for event in stream:
        got.append(event)
        if (reached := milestones.get(len(got))) is not None:
            reached.set()
        if len(got) == until:
            return


async def test_every_sequence_once_in_order_across_kill_and_restart(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    total = 60
    sent: list[tuple[str, int]] = []

    killing, stopping = asyncio.Event(), asyncio.Event()

    async def publish() -> None:
        # Some events before each outage, the rest during and after it.
        for i in range(total):
            if i == 25:
                await killing.wait()
            if i == 45:
                await stopping.wait()
            sent.append(await sender.send("user.created", f"user_{i}", retry_for_s=30))
            await asyncio.sleep(0.01)

    async with RelayClient(relay.grpc_target) as client:
        got: list[Event] = []
        stream = client.subscribe(after_sequence=0, backoff=FAST, idle_timeout_s=10)
        async with asyncio.timeout(90), stream:
            milestones = {15: asyncio.Event(), 35: asyncio.Event()}
            consumer = asyncio.create_task(_consume(stream, got, total, milestones))
            publisher = asyncio.create_task(publish())

            await milestones[15].wait()
            killing.set()
            await asyncio.to_thread(relay.kill)  # SIGKILL: no shutdown code runs
            await asyncio.to_thread(relay.start)  # same ports, same SQLite file

            await milestones[35].wait()
            stopping.set()
            await asyncio.to_thread(relay.stop)  # SIGTERM: streams end cleanly (OK)
            await asyncio.to_thread(relay.start)

            await publisher
            await consumer

    assert stream.reconnects >= 2
    assert [event.sequence for event in got] == list(range(1, total + 1))
    assert [event.id for event in got] == [webhook_id for webhook_id, _ in sent]
    assert [sequence for _, sequence in sent] == list(range(1, total + 1))
    assert [event.user_created.id for event in got] == [f"user_{i}" for i in range(total)]
    assert stream.position == total


async def test_silently_dropped_connection_is_detected_and_resumed(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    await sender.users(3)
    assert relay.grpc_port is not None
    # Keepalive pings find the dead link (the defaults are 30 s + 10 s; shorter here).
    pings = [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_timeout_ms", 1000),
        ("grpc.http2.ping_timeout_ms", 1000),
    ]
    async with proxy_to(relay.grpc_port) as proxy:
        target = f"127.0.0.1:{proxy.port}"
        async with RelayClient(target, channel_options=pings) as client, asyncio.timeout(30):
            stream = client.subscribe(after_sequence=0, backoff=FAST, idle_timeout_s=None)
            async with stream:
                got = [await anext(stream) for _ in range(3)]
                proxy.blackhole()  # no FIN, no RST: the client is not told
                await sender.send("user.created", "user_3")  # stored; the old link swallows it
                got.append(await anext(stream))
    assert [(e.sequence, e.user_created.id) for e in got] == [
        (i + 1, f"user_{i}") for i in range(4)
    ]
    assert stream.reconnects == 1
