"""A stalled subscriber of a real `serve` falls behind, then gets every event once, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
import orjson

from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from tests.gateway.signing import signed_headers
from tests.processes import TEST_SECRET, running, serve

TOTAL = 300


async def post_all(url: str) -> None:
    body = orjson.dumps(sample("user.created"))
    async with httpx.AsyncClient(timeout=30) as http:
        semaphore = asyncio.Semaphore(20)

        async def post(i: int) -> None:
            headers = signed_headers(body, webhook_id=f"msg_slow_{i}", secrets=(TEST_SECRET,))
            async with semaphore:
                response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 200, response.text

        await asyncio.gather(*(post(i) for i in range(TOTAL)))


async def test_stalled_subscriber_falls_behind_and_misses_nothing(tmp_path: Path) -> None:
    relay = serve(tmp_path, None, "--live-buffer", "4", "--heartbeat-interval", "1s")
    with running(relay):
        # A small HTTP/2 window, so that not reading really stalls the server's stream.
        options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]
        async with grpc.aio.insecure_channel(relay.grpc_target, options=options) as channel:
            call = EventServiceStub(channel).Subscribe(SubscribeRequest(after_sequence=0))
            first = await call.read()
            assert isinstance(first, SubscribeResponse)
            assert first.WhichOneof("response") == "caught_up"
            await post_all(relay.webhook_url)  # the subscriber reads nothing meanwhile
            kinds: list[str] = []
            sequences: list[int] = []

            def rejoined() -> bool:
                return "fell_behind" in kinds and "caught_up" in kinds[kinds.index("fell_behind") :]

            async def read_all() -> None:
                while len(sequences) < TOTAL or not rejoined():
                    response = await call.read()
                    assert isinstance(response, SubscribeResponse)
                    kind = response.WhichOneof("response")
                    assert kind is not None
                    kinds.append(kind)
                    sequences.extend(e.sequence for e in response.events.events)

            await asyncio.wait_for(read_all(), 60)
            call.cancel()
    assert sequences == list(range(1, TOTAL + 1))
    assert "fell_behind" in kinds
    assert "caught_up" in kinds[kinds.index("fell_behind") :]
