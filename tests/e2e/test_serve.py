"""`clerk-relay serve` as a user runs it: a signed webhook in, the event out over gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import orjson

from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from tests.gateway.signing import signed_headers
from tests.processes import TEST_SECRET, running, serve


async def test_webhook_in_event_out(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    with running(relay):
        body = orjson.dumps(sample("user.created"))
        async with httpx.AsyncClient() as http:
            response = await http.post(
                relay.webhook_url,
                content=body,
                headers=signed_headers(body, webhook_id="msg_e2e_1", secrets=(TEST_SECRET,)),
            )
        assert response.status_code == 200
        assert response.json() == {"sequence": 1}
        async with grpc.aio.insecure_channel(relay.grpc_target) as channel:
            stream = EventServiceStub(channel).Subscribe(SubscribeRequest(after_sequence=0))
            first = await stream.read()
            stream.cancel()
        assert isinstance(first, SubscribeResponse)
        (event,) = first.events.events
        assert (event.sequence, event.id, event.type) == (1, "msg_e2e_1", "user.created")
        assert event.raw_body == body
        assert event.user_created.id == sample("user.created")["data"]["id"]
    assert relay.process is not None and relay.process.returncode == 0
