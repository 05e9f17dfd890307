"""Builds and sends hostile webhooks: bodies, signed headers, senders, the usual answers and checks.

Every body that should get past the signature check is signed by the real
`svix` library (`tests.gateway.signing`) with the relay's secret. Requests
whose framing h11 (httpx) refuses to send go over a raw socket.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from clerkrelay.cli.samples import sample
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from tests.adversarial.cases import NEXT, Answer, Case, one, stores_nothing, wid
from tests.adversarial.relay import Relay
from tests.gateway.signing import signed_headers
from tests.processes import TEST_SECRET

Headers = list[tuple[bytes, bytes]]
OMIT = PayloadOmission
INVALID_HTTP = Answer(400, "Invalid HTTP request received.")


def user_envelope(name: str, **data: Any) -> dict[str, Any]:
    """Clerk's `user.created` sample about `user_adv_<name>`, with `data` changed."""
    envelope = copy.deepcopy(sample("user.created"))
    envelope["timestamp"] = 1_700_000_000_000
    envelope["data"].update({"id": f"user_adv_{name}", **data})
    return envelope


def user_body(name: str, **data: Any) -> bytes:
    """A compact `user.created` body (the standard library: integers of any size)."""
    return json.dumps(user_envelope(name, **data), separators=(",", ":")).encode()


def spliced(name: str, key: str, json_text: bytes) -> bytes:
    """A `user.created` body whose `data[key]` is the given JSON text, verbatim."""
    marker = "__adv_splice__"
    return user_body(name, **{key: marker}).replace(f'"{marker}"'.encode(), json_text)


def signed(body: bytes, webhook_id: str, **options: Any) -> Headers:
    """The three svix headers of a delivery signed with the relay's secret."""
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,), **options)
    return [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]


def without(headers: Headers, *names: str) -> Headers:
    """The headers minus the named ones."""
    return [(k, v) for k, v in headers if k.decode() not in names]


def replaced(headers: Headers, name: str, value: bytes) -> Headers:
    """The headers with one value replaced."""
    return [(k, value if k.decode() == name else v) for k, v in headers]


async def _answer(response: httpx.Response) -> Answer:
    if response.headers.get("content-type") == "application/json":
        return Answer(response.status_code, response.json())
    return Answer(response.status_code, response.text)


def post(body: bytes | Callable[[], AsyncIterator[bytes]], headers: Headers) -> Any:
    """A sender posting `body` (bytes, or chunks streamed without a length) with `headers`."""

    async def send(relay: Relay) -> Answer:
        content = body if isinstance(body, bytes) else body()
        async with httpx.AsyncClient(timeout=20, trust_env=False) as client:
            response = await client.post(relay.webhook_url, content=content, headers=headers)
        return await _answer(response)

    return send


def post_signed(name: str, body: bytes, **options: Any) -> Any:
    """A sender posting `body` signed for the case's webhook id."""
    return post(body, signed(body, wid(name), **options))


def raw(head: list[bytes], body: bytes, *, half_close: bool = False) -> Any:
    """A sender writing one request by hand: request line and headers, then `body`."""

    async def send(relay: Relay) -> Answer:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.http_port)
        try:
            writer.write(
                b"\r\n".join([b"POST /webhooks/clerk HTTP/1.1", b"host: relay.test", *head])
                + b"\r\n\r\n"
                + body
            )
            if half_close:
                writer.write_eof()
            await writer.drain()
            async with asyncio.timeout(20):
                return _parse_response(await reader.read())  # the server closes
        finally:
            writer.close()

    return send


def _parse_response(data: bytes) -> Answer:
    if not data:
        return Answer(0, "")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"content-type: application/json" in head.lower():
        return Answer(status, orjson.loads(body))
    return Answer(status, body.decode())


def raw_signed(name: str, body: bytes, *extra: bytes, length: bytes | None = None) -> list[bytes]:
    """Header lines of a signed delivery, with a chosen `content-length` and extra lines."""
    lines = [k + b": " + v for k, v in signed(body, wid(name))]
    declared = str(len(body)).encode() if length is None else length
    return [*lines, b"content-length: " + declared, *extra]


def accepted(name: str) -> Answer:
    """The answer to a webhook stored at the next sequence."""
    return Answer(200, {"sequence": NEXT})


def stored_user(name: str, *, also: Callable[[Event], None] | None = None) -> Any:
    """The check of a case that stored its `user.created` typed."""
    return one(wid(name), "user.created", payload="user_created", also=also)


def rejected(status: int, error: str) -> Answer:
    """A JSON rejection from the webhook route."""
    return Answer(status, {"error": error})


def typed_case(
    name: str, body: bytes, stores: str, also: Callable[[Event], None] | None = None
) -> Case:
    """A signed webhook stored typed at the next sequence (`also` checks the event further)."""
    return Case(name, post_signed(name, body), accepted(name), stores, stored_user(name, also=also))


def omitted_case(name: str, body: bytes, omission: PayloadOmission.ValueType, what: str) -> Case:
    """A signed webhook stored with no payload, for this reason; its body kept exactly."""
    return Case(
        name,
        post_signed(name, body),
        accepted(name),
        f"1 event, no payload, payload_omission={what}",
        one(wid(name), "user.created", payload=None, omission=omission, raw_body=body),
    )


def rejected_case(name: str, body: bytes, status: int, error: str, **options: Any) -> Case:
    """A signed webhook refused with this status and JSON error; nothing stored."""
    return stores_nothing(name, post_signed(name, body, **options), rejected(status, error))
