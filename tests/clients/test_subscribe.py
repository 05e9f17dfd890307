"""`RelayClient.subscribe` against a real `clerk-relay serve`: start points, checkpoints, errors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from clerkrelay import (
    Backoff,
    FileCheckpoint,
    InvalidArgumentError,
    MemoryCheckpoint,
    OutOfRangeError,
    RelayClient,
    UnauthenticatedError,
    UnavailableError,
)
from service.server import RelayServer
from service.settings import ServiceSettings
from service.storage import Retention
from service.storage.sqlite import SqliteStore
from tests.clients.webhooks import WebhookSender
from tests.history import event
from tests.processes import RelayProcess, free_port, relay_env, running, serve
from tests.service.test_auth import self_signed

FAST = Backoff(initial_delay_s=0.05, max_delay_s=0.2)


async def test_replay_until_caught_up(relay: RelayProcess, sender: WebhookSender) -> None:
    await sender.users(3)
    await sender.send("session.created", "sess_1")
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        stream = client.subscribe(event_types=["user.*"], after_sequence=1, until_caught_up=True)
        got = [event async for event in stream]
    assert [(e.sequence, e.type, e.user_created.id) for e in got] == [
        (2, "user.created", "user_1"),
        (3, "user.created", "user_2"),
    ]
    assert got[0].raw_body.startswith(b"{")
    assert stream.position == 4  # the session was examined, not yielded
    assert stream.caught_up and stream.reconnects == 0


async def test_live_start_sees_only_later_events(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    await sender.users(2, prefix="old")
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        stream = client.subscribe(event_types="user.created")
        first = asyncio.create_task(anext(stream))
        sent: list[int] = []
        while not first.done():  # until the stream is live and sees one
            sent.append((await sender.send("user.created", f"new_{len(sent)}"))[1])
            await asyncio.wait({first}, timeout=0.05)
        received = first.result()
        await stream.aclose()
    assert received.sequence in sent  # not 1 or 2: those were stored before
    assert received.user_created.id == f"new_{sent.index(received.sequence)}"
    assert stream.position == received.sequence


async def test_file_checkpoint_survives_a_new_client(
    relay: RelayProcess, sender: WebhookSender, tmp_path: Path
) -> None:
    await sender.users(10)
    path = tmp_path / "positions" / "billing-sync"
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        handled: list[int] = []
        async with client.subscribe(after_sequence=0, checkpoint=FileCheckpoint(path)) as stream:
            async for received in stream:
                handled.append(received.sequence)
                if received.sequence == 4:
                    break  # the consumer stops while handling event 4
    assert handled == [1, 2, 3, 4]
    # Closing saved what was acknowledged: 4 was being handled, so 3.
    assert path.read_text() == "3\n"

    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        checkpoint = FileCheckpoint(path)
        assert checkpoint.load() == 3
        stream = client.subscribe(checkpoint=checkpoint, until_caught_up=True)
        assert stream.position == 3
        async with stream:
            resumed = [received.sequence async for received in stream]
    assert resumed == list(range(4, 11))
    assert path.read_text() == "10\n"

    await sender.users(2, prefix="later")
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        # A saved position later than after_sequence wins: nothing is replayed.
        stream = client.subscribe(
            after_sequence=0, checkpoint=FileCheckpoint(path), until_caught_up=True
        )
        async with stream:
            latest = [received.sequence async for received in stream]
    assert latest == [11, 12]
    assert path.read_text() == "12\n"


async def test_sparse_filter_still_saves_progress(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    await sender.users(5)
    checkpoint = MemoryCheckpoint()
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        stream = client.subscribe(
            event_types=["session.*"], after_sequence=0, checkpoint=checkpoint, until_caught_up=True
        )
        async with stream:
            got = [received async for received in stream]
    assert got == []
    assert checkpoint.sequence == 5  # the server's caught_up position, nothing yielded
    assert stream.position == 5


async def test_checkpoint_saved_once_per_batch_not_per_event(
    relay: RelayProcess, sender: WebhookSender
) -> None:
    await sender.users(6)
    checkpoint = MemoryCheckpoint()
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(20):
        stream = client.subscribe(
            after_sequence=0, checkpoint=checkpoint, max_batch_size=3, until_caught_up=True
        )
        seen: list[tuple[int, int | None]] = []
        async with stream:
            async for received in stream:
                seen.append((received.sequence, checkpoint.sequence))
    # Batches [1-3] and [4-6]: the first save comes after the caller is back from 3.
    assert seen == [(1, None), (2, None), (3, None), (4, 3), (5, 3), (6, 3)]
    assert checkpoint.sequence == 6
    assert checkpoint.saves == 2  # after each batch; caught_up at 6 adds nothing new


async def test_bad_pattern_raises_at_once(relay: RelayProcess) -> None:
    async with RelayClient(relay.grpc_target) as client, asyncio.timeout(10):
        stream = client.subscribe(event_types=["user.*", "*.created"])
        with pytest.raises(InvalidArgumentError) as raised:
            await anext(stream)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "'*.created'" in raised.value.details
    assert stream.reconnects == 0


async def test_missing_or_wrong_token_raises(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    relay.env = relay_env(CLERK_RELAY_TOKENS="s3cret-token")
    with running(relay):
        for token in (None, "wrong-token"):
            async with RelayClient(relay.grpc_target, token=token) as client:
                with pytest.raises(UnauthenticatedError):
                    await anext(client.subscribe(after_sequence=0))
                with pytest.raises(UnauthenticatedError):
                    await client.head_sequence()
        async with RelayClient(relay.grpc_target, token="s3cret-token") as client:
            assert await client.head_sequence() == 0
            assert await client.get_user("user_1") is None


async def test_tls_with_a_token(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    relay = serve(tmp_path, None, "--tls-cert", str(cert), "--tls-key", str(key))
    relay.env = relay_env(CLERK_RELAY_TOKENS="s3cret-token")
    with running(relay):
        trusted = RelayClient(
            relay.grpc_target, token="s3cret-token", root_certificates=cert.read_bytes()
        )
        async with trusted as client, asyncio.timeout(20):
            assert await client.head_sequence() == 0
            live = client.subscribe(after_sequence=0, until_caught_up=True)
            assert [e async for e in live] == []
            assert live.caught_up
        async with RelayClient(relay.grpc_target, token="s3cret-token") as plaintext:
            with pytest.raises(UnavailableError):
                await plaintext.head_sequence()
        async with RelayClient(relay.grpc_target, token="s3cret-token", tls=True) as system:
            with pytest.raises(UnavailableError):  # the system roots do not know this CA
                await system.head_sequence()


async def test_start_before_retention_raises_out_of_range(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "relay.db", Retention(max_count=3, interval_s=3600))
    try:
        for i in range(6):
            await store.append(event("user.created", f"user_{i}"))
        await store.trim()  # keeps 4, 5, 6
        server = RelayServer(
            ServiceSettings(grpc_addr="127.0.0.1:0", shutdown_grace_s=1.0),
            store,
        )
        port = await server.start()
        try:
            async with RelayClient(f"127.0.0.1:{port}") as client, asyncio.timeout(10):
                with pytest.raises(OutOfRangeError, match="oldest retained sequence is 4"):
                    await anext(client.subscribe(after_sequence=1, backoff=FAST))
                kept = client.subscribe(after_sequence=0, until_caught_up=True)
                assert [e.sequence async for e in kept] == [4, 5, 6]
        finally:
            await server.stop()
    finally:
        await store.close()


async def test_unreachable_server() -> None:
    target = f"127.0.0.1:{free_port()}"
    async with RelayClient(target) as client, asyncio.timeout(20):
        with pytest.raises(UnavailableError):
            await client.head_sequence()
        started = time.monotonic()
        stream = client.subscribe(after_sequence=0, backoff=Backoff(0.05, 0.1, max_attempts=3))
        with pytest.raises(UnavailableError, match="gave up after 3 failed attempts"):
            await anext(stream)
        assert time.monotonic() - started < 5
        assert stream.reconnects == 2


async def test_closed_client_refuses_calls() -> None:
    client = RelayClient()
    with pytest.raises(RuntimeError, match="not open"):
        client.subscribe()
    async with client:
        pass
    with pytest.raises(RuntimeError, match="not open"):
        await client.get_user("user_1")
