"""Hostile webhooks: lying headers, encodings, nesting, numbers, sizes and envelopes.

Every body that should get past the signature check is signed by the real
`svix` library (`tests.gateway.signing`) with the relay's secret. Requests
whose framing h11 (httpx) refuses to send go over a raw socket.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
from google.protobuf.message import Message

from clerkrelay import to_clerk_dict
from clerkrelay.cli.samples import sample
from clerkrelay.limits import DEFAULT_MAX_BODY_BYTES
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from tests.adversarial.cases import NEXT, Answer, Case, SequenceOf, nothing, one
from tests.adversarial.relay import Relay
from tests.gateway.signing import OTHER_SECRET, sign, signed_headers
from tests.processes import TEST_SECRET

Headers = list[tuple[bytes, bytes]]
OMIT = PayloadOmission
INVALID_HTTP = Answer(400, "Invalid HTTP request received.")


def wid(name: str) -> str:
    """The webhook id of a case."""
    return f"msg_adv_{name}"


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


# -- values the cases need ------------------------------------------------------------

NOW = int(time.time())
BIG_METADATA = {
    "i64_max_plus_1": 2**63,
    "i64_min_minus_1": -(2**63) - 1,
    "u64_max_plus_1": 2**64,
    "two_to_70": 2**70,
    "smallest_double": 5e-324,
}
BIG_METADATA_TEXT = json.dumps(BIG_METADATA, separators=(",", ":"), ensure_ascii=False)


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"{}" + b"}" * depth


def exactly(size: int, name: str) -> bytes:
    """A `user.created` body of exactly `size` bytes (padded in `unsafe_metadata`)."""
    base = user_body(name, unsafe_metadata={"pad": ""})
    return user_body(name, unsafe_metadata={"pad": "x" * (size - len(base))})


def expanding_body(name: str) -> bytes:
    """Under 1 MiB of `1e9,`: written back as `1000000000.0`, the typed view is over 3 MiB."""
    count = (DEFAULT_MAX_BODY_BYTES - 4096) // 4
    return spliced(name, "unsafe_metadata", b'{"n":[' + b",".join([b"1e9"] * count) + b"]}")


def small_numbers_body(name: str) -> bytes:
    """Just under 1 MiB of `0,`: about half a million numbers in metadata."""
    count = (DEFAULT_MAX_BODY_BYTES - 4096) // 2
    return spliced(name, "public_metadata", b"[" + b",".join([b"0"] * count) + b"]")


def chunks_of(body: bytes) -> Callable[[], AsyncIterator[bytes]]:
    """The body streamed in 64 KiB chunks (chunked transfer encoding, no length)."""

    async def chunks() -> AsyncIterator[bytes]:
        size = 64 << 10
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return chunks


def metadata_kept_exactly(event: Event) -> None:
    user = event.user_created
    assert user.public_metadata_json == BIG_METADATA_TEXT
    assert to_clerk_dict(user)["public_metadata"] == BIG_METADATA


def field_unset(name: str) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        user: Message = event.user_created
        assert not user.HasField(name)

    return check


def envelope_timestamp(expected: int | None) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        if expected is None:
            assert not event.HasField("timestamp")
        else:
            assert event.timestamp == expected

    return check


def unsafe_text(expected: bytes) -> Callable[[Event], None]:
    def check(event: Event) -> None:
        assert event.user_created.unsafe_metadata_json == expected.decode()

    return check


def _timestamp_body(name: str, value: bytes) -> bytes:
    body = user_body(name)
    return body.replace(b'"timestamp":1700000000000', b'"timestamp":' + value)


def _ts_case(name: str, value: bytes, expected: int | None) -> Case:
    body = _timestamp_body(name, value)
    return Case(
        name,
        post_signed(name, body),
        accepted(name),
        f"1 typed event, envelope timestamp {'unset' if expected is None else expected}",
        stored_user(name, also=envelope_timestamp(expected)),
    )


def _int_field_case(name: str, value: bytes, field: str = "created_at") -> Case:
    body = spliced(name, field, value)
    return Case(
        name,
        post_signed(name, body),
        accepted(name),
        f"1 typed event without {field} (drift)",
        stored_user(name, also=field_unset(field)),
    )


def _omitted_case(name: str, body: bytes, omission: PayloadOmission.ValueType, what: str) -> Case:
    return Case(
        name,
        post_signed(name, body),
        accepted(name),
        f"1 event, no payload, payload_omission={what}",
        one(wid(name), "user.created", payload=None, omission=omission, raw_body=body),
    )


def _rejected_case(name: str, body: bytes, status: int, error: str, **options: Any) -> Case:
    return Case(
        name, post_signed(name, body, **options), rejected(status, error), "nothing", nothing
    )


def _nested_case(name: str, depth: int, text: bytes) -> Case:
    body = spliced(name, "unsafe_metadata", text)
    return Case(
        name,
        post_signed(name, body),
        accepted(name),
        f"1 typed event, unsafe_metadata_json {depth} deep, exact",
        stored_user(name, also=unsafe_text(text)),
    )


def _header_cases() -> list[Case]:
    cases: list[Case] = []
    for header in ("svix-id", "svix-timestamp", "svix-signature"):
        name = f"missing-{header}"
        body = user_body(name)
        cases.append(
            Case(
                name,
                post(body, without(signed(body, wid(name)), header)),
                rejected(400, f"missing {header} header"),
                "nothing",
                nothing,
            )
        )
    name = "no-svix-headers-at-all"
    cases.append(
        Case(
            name,
            post(user_body(name), [(b"content-type", b"application/json")]),
            rejected(400, "missing svix-id, svix-timestamp, svix-signature headers"),
            "nothing",
            nothing,
        )
    )
    name = "standard-webhooks-header-names"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post_signed(name, body, prefix="webhook"),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    name = "svix-id-with-webhook-timestamp-and-signature"
    body = user_body(name)
    mixed = signed(body, wid(name))
    mixed = [
        (k.replace(b"svix-t", b"webhook-t").replace(b"svix-s", b"webhook-s"), v) for k, v in mixed
    ]
    cases.append(Case(name, post(body, mixed), accepted(name), "1 typed event", stored_user(name)))
    name = "empty-svix-id-beside-a-valid-webhook-id"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(
                body,
                [
                    *replaced(signed(body, wid(name)), "svix-id", b""),
                    (b"webhook-id", wid(name).encode()),
                ],
            ),
            rejected(400, "missing svix-id header"),
            "nothing",
            nothing,
        )
    )
    name = "duplicated-svix-id-valid-first"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, [*signed(body, wid(name)), (b"svix-id", b"msg_adv_forged_second")]),
            accepted(name),
            "1 typed event under the first svix-id",
            stored_user(name),
        )
    )
    name = "duplicated-svix-id-garbage-first"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, [(b"svix-id", b"msg_adv_garbage_first"), *signed(body, wid(name))]),
            rejected(401, "no matching signature"),
            "nothing",
            nothing,
        )
    )
    name = "signature-made-with-another-secret"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, signed_headers_with(body, wid(name), OTHER_SECRET)),
            rejected(401, "no matching signature"),
            "nothing",
            nothing,
        )
    )
    name = "garbage-signatures-then-a-valid-one"
    body = user_body(name)
    good = dict(signed(body, wid(name)))[b"svix-signature"]
    garbage = b"v1,AAAA v1, v1a,xyz ,, v2,abc v1,\xe9\xe9 "
    cases.append(
        Case(
            name,
            post(body, replaced(signed(body, wid(name)), "svix-signature", garbage + good)),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    name = "only-a-v2-signature"
    body = user_body(name)
    v2 = b"v2," + good.partition(b",")[2]
    cases.append(
        Case(
            name,
            post(body, replaced(signed(body, wid(name)), "svix-signature", v2)),
            rejected(401, "no v1 signature"),
            "nothing",
            nothing,
        )
    )
    name = "v1-signature-of-latin-1-bytes"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, replaced(signed(body, wid(name)), "svix-signature", b"v1,\xe9\xff")),
            rejected(401, "no v1 signature"),
            "nothing",
            nothing,
        )
    )
    name = "valid-signature-replayed-under-another-id"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, replaced(signed(body, wid(name)), "svix-id", b"msg_adv_other")),
            rejected(401, "no matching signature"),
            "nothing",
            nothing,
        )
    )
    for label, value, error in (
        ("non-numeric", b"yesterday", "invalid svix-timestamp header"),
        ("nan", b"nan", "invalid svix-timestamp header"),
        ("infinite", b"1e400", "invalid svix-timestamp header"),
        ("negative", b"-1", "timestamp too old"),
        ("huge", b"99999999999999999999999", "timestamp too new"),
        ("an-hour-ahead", str(NOW + 3600).encode(), "timestamp too new"),
        ("an-hour-old", str(NOW - 3600).encode(), "timestamp too old"),
    ):
        name = f"timestamp-{label}"
        body = user_body(name)
        cases.append(
            Case(
                name,
                post(body, replaced(signed(body, wid(name)), "svix-timestamp", value)),
                rejected(401, error),
                "nothing",
                nothing,
            )
        )
    name = "timestamp-signed-an-hour-ago"
    cases.append(
        _rejected_case(name, user_body(name), 401, "timestamp too old", timestamp=NOW - 3600)
    )
    name = "timestamp-with-a-fraction"  # parsed as a float; the signature covers its floor
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(
                body,
                replaced(
                    signed(body, wid(name), timestamp=NOW), "svix-timestamp", f"{NOW}.25".encode()
                ),
            ),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    return cases


def signed_headers_with(body: bytes, webhook_id: str, secret: str) -> Headers:
    """Headers of a delivery signed with another secret than the relay's."""
    return [
        (b"svix-id", webhook_id.encode()),
        (b"svix-timestamp", str(NOW).encode()),
        (b"svix-signature", sign(secret, webhook_id, NOW, body).encode()),
    ]


def _id_cases() -> list[Case]:
    cases: list[Case] = []
    name = "svix-id-of-256-bytes"
    long_id = wid(name) + "x" * (256 - len(wid(name)))
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, signed(body, long_id)),
            accepted(name),
            "1 typed event with the 256-byte id",
            one(long_id, "user.created", payload="user_created"),
        )
    )
    name = "svix-id-of-257-bytes"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, signed(body, "m" * 257)),
            rejected(400, "webhook id over 256 bytes"),
            "nothing",
            nothing,
        )
    )
    name = "svix-id-of-129-latin-1-bytes"  # decoded as Latin-1: 258 bytes of UTF-8
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, signed(body, "\xe9" * 129)),
            rejected(400, "webhook id over 256 bytes"),
            "nothing",
            nothing,
        )
    )
    name = "svix-id-with-latin-1-line-breaks"
    odd_id = wid(name) + "\x85\xa0\xff"
    body = user_body(name)
    cases.append(
        Case(
            name,
            post(body, signed(body, odd_id)),
            accepted(name),
            "1 typed event whose id has U+0085, U+00A0, U+00FF",
            one(odd_id, "user.created", payload="user_created"),
        )
    )
    for label, byte in (("nul", b"\x00"), ("carriage-return", b"\r"), ("escape", b"\x1b")):
        name = f"svix-id-with-{label}"
        body = user_body(name)
        head = [
            k + b": " + (v + byte + b"x" if k == b"svix-id" else v)
            for k, v in signed(body, wid(name))
        ]
        cases.append(
            Case(
                name,
                raw([*head, b"content-length: %d" % len(body)], body),
                INVALID_HTTP,
                "nothing",
                nothing,
            )
        )
    return cases


def _framing_cases() -> list[Case]:
    cases: list[Case] = []
    for label, length in (
        ("content-length-smaller-than-body", None),
        ("content-length-not-a-number", b"eleven"),
        ("content-length-negative", b"-1"),
    ):
        name = label
        body = user_body(name)
        declared = length if length is not None else str(len(body) - 5).encode()
        cases.append(
            Case(
                name,
                raw(raw_signed(name, body, length=declared), body),
                INVALID_HTTP,
                "nothing",
                nothing,
            )
        )
    name = "two-different-content-lengths"
    body = user_body(name)
    cases.append(
        Case(
            name,
            raw(raw_signed(name, body, b"content-length: 3"), body),
            INVALID_HTTP,
            "nothing",
            nothing,
        )
    )
    name = "content-length-and-chunked"
    body = user_body(name)
    cases.append(
        Case(
            name,
            raw(raw_signed(name, body, b"transfer-encoding: chunked"), body),
            INVALID_HTTP,
            "nothing",
            nothing,
        )
    )
    name = "content-length-larger-than-body-then-eof"
    body = user_body(name)
    cases.append(
        Case(
            name,
            raw(raw_signed(name, body, length=str(len(body) + 5).encode()), body, half_close=True),
            Answer(0, ""),
            "nothing (the connection closes without an answer)",
            nothing,
        )
    )
    name = "content-length-declares-over-the-limit"
    cases.append(
        Case(
            name,
            raw(raw_signed(name, b"{}", length=b"%d" % (DEFAULT_MAX_BODY_BYTES + 1)), b""),
            rejected(413, "body too large"),
            "nothing (no body byte read)",
            nothing,
        )
    )
    return cases


def _encoding_cases() -> list[Case]:
    cases: list[Case] = []
    name = "body-not-utf-8"
    body = user_body(name).replace(b"John", b"J\xf6hn")
    sig = signed(user_body(name), wid(name))
    cases.append(
        Case(name, post(body, sig), rejected(401, "body is not UTF-8"), "nothing", nothing)
    )
    name = "utf-8-byte-order-mark"
    cases.append(
        _rejected_case(
            name,
            b"\xef\xbb\xbf" + user_body(name),
            400,
            "invalid JSON: UTF-8 byte order mark (BOM) is not supported",
        )
    )
    name = "utf-16-with-byte-order-mark"
    body = user_body(name).decode().encode("utf-16")
    cases.append(
        Case(name, post(body, sig), rejected(401, "body is not UTF-8"), "nothing", nothing)
    )
    name = "utf-16-le-without-byte-order-mark"  # valid UTF-8 (NULs), not JSON
    cases.append(
        _rejected_case(
            name,
            user_body(name).decode().encode("utf-16-le"),
            400,
            "invalid JSON: unexpected character, expected a string key",
        )
    )
    name = "lone-surrogate-escape"
    cases.append(
        _rejected_case(
            name,
            spliced(name, "first_name", b'"\\ud800"'),
            400,
            "invalid JSON: no low surrogate in string",
        )
    )
    for label, literal, error in (
        ("nan", b"NaN", "unexpected character, expected a JSON value"),
        ("infinity", b"Infinity", "unexpected character, expected a JSON value"),
        ("minus-infinity", b"-Infinity", "no digit after sign"),
    ):
        name = f"{label}-literal"
        body = spliced(name, "public_metadata", b'{"x":' + literal + b"}")
        cases.append(_rejected_case(name, body, 400, f"invalid JSON: {error}"))
    name = "number-1e400"
    cases.append(
        _rejected_case(
            name,
            spliced(name, "public_metadata", b'{"x":1e400}'),
            400,
            "invalid JSON: number is infinity when parsed as double",
        )
    )
    name = "trailing-garbage-after-json"
    cases.append(
        _rejected_case(
            name, user_body(name) + b"}", 400, "invalid JSON: unexpected content after document"
        )
    )
    return cases


def _number_cases() -> list[Case]:
    cases = [
        _ts_case("envelope-timestamp-2-63", b"9223372036854775808", None),
        _ts_case("envelope-timestamp-minus-2-63-minus-1", b"-9223372036854775809", None),
        _ts_case("envelope-timestamp-2-64", b"18446744073709551616", None),
        _ts_case("envelope-timestamp-2-70", b"1180591620717411303424", None),
        _ts_case("envelope-timestamp-int64-max", b"9223372036854775807", 2**63 - 1),
        _ts_case("envelope-timestamp-float", b"1.5", None),
        _ts_case("envelope-timestamp-string", b'"1700000000000"', None),
        _ts_case("envelope-timestamp-true", b"true", None),
        _int_field_case("created-at-2-63", b"9223372036854775808"),
        _int_field_case("created-at-minus-2-63-minus-1", b"-9223372036854775809"),
        _int_field_case("created-at-2-64", b"18446744073709551616"),
        _int_field_case("created-at-2-70", b"1180591620717411303424"),
        _int_field_case("created-at-float", b"1.5"),
        _int_field_case("created-at-1e300", b"1e300"),
        _int_field_case("created-at-string", b'"1700000000000"'),
        _int_field_case("banned-string-true", b'"true"', "banned"),
        _int_field_case("banned-object", b"{}", "banned"),
        _int_field_case("first-name-number", b"12", "first_name"),
    ]
    name = "metadata-integers-past-64-bits"
    body = user_body(name, public_metadata=BIG_METADATA)
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event; public_metadata_json keeps every number exactly",
            stored_user(name, also=metadata_kept_exactly),
        )
    )
    return cases


def _shape_cases() -> list[Case]:
    cases: list[Case] = []
    for label, text in (("object", b"{}"), ("numbers", b"[1,2]"), ("string", b'"x"')):
        name = f"email-addresses-as-{label}"
        body = spliced(name, "email_addresses", text)

        def no_emails(event: Event) -> None:
            assert len(event.user_created.email_addresses) == 0

        cases.append(
            Case(
                name,
                post_signed(name, body),
                accepted(name),
                "1 typed event without email_addresses",
                stored_user(name, also=no_emails),
            )
        )
    for label, text in (("null", b"null"), ("a-string", b'"user_x"'), ("an-array", b"[{}]")):
        name = f"data-{label}"
        envelope = user_envelope(name)
        body = json.dumps(dict(envelope, data="__data__"), separators=(",", ":")).encode()
        body = body.replace(b'"__data__"', text)
        cases.append(
            _omitted_case(name, body, OMIT.PAYLOAD_OMISSION_DATA_NOT_OBJECT, "DATA_NOT_OBJECT")
        )
    name = "data-missing"
    envelope = user_envelope(name)
    del envelope["data"]
    cases.append(
        _omitted_case(
            name, orjson.dumps(envelope), OMIT.PAYLOAD_OMISSION_DATA_NOT_OBJECT, "DATA_NOT_OBJECT"
        )
    )
    name = "data-id-a-number"
    body = spliced(name, "id", b"123")

    def no_id(event: Event) -> None:
        assert event.user_created.id == ""

    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event with an empty user id",
            stored_user(name, also=no_id),
        )
    )
    for depth in (33, 100, 300):
        cases.append(_nested_case(f"unsafe-metadata-{depth}-deep", depth, nested_arrays(depth)))
    cases.append(_nested_case("unsafe-metadata-300-deep-objects", 300, nested_objects(300)))
    name = "unsafe-metadata-1000-deep"
    cases.append(
        _omitted_case(
            name,
            spliced(name, "unsafe_metadata", nested_arrays(1000)),
            OMIT.PAYLOAD_OMISSION_TOO_DEEP,
            "TOO_DEEP",
        )
    )
    name = "unsafe-metadata-1100-deep"
    cases.append(
        _rejected_case(
            name,
            spliced(name, "unsafe_metadata", nested_arrays(1100)),
            400,
            "invalid JSON: depth limit exceeded",
        )
    )
    name = "unknown-extra-envelope-key-1000-deep"
    body = user_body(name)[:-1] + b',"extra":' + nested_arrays(1000) + b"}"
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event (the extra key is drift, kept in raw_body)",
            stored_user(name),
        )
    )
    return cases


def _envelope_cases() -> list[Case]:
    cases: list[Case] = []
    name = "unknown-event-type"
    body = orjson.dumps(dict(user_envelope(name), type="user.exploded"))
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 event, no payload, no omission (unknown type)",
            one(wid(name), "user.exploded", payload=None),
        )
    )
    name = "event-type-of-256-bytes"
    long_type = "user." + "x" * 251
    body = orjson.dumps(dict(user_envelope(name), type=long_type))
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 event of the 256-byte type, no payload",
            one(wid(name), long_type, payload=None),
        )
    )
    name = "event-type-of-257-bytes"
    cases.append(
        _rejected_case(
            name,
            orjson.dumps(dict(user_envelope(name), type="u" * 257)),
            400,
            "event type over 256 bytes",
        )
    )
    for label, value in (("a-number", 7), ("null", None), ("empty", ""), ("an-object", {})):
        name = f"event-type-{label}"
        cases.append(
            _rejected_case(
                name,
                orjson.dumps(dict(user_envelope(name), type=value)),
                400,
                "body has no event type",
            )
        )
    for label, body in (("an-array", b"[]"), ("a-string", b'"user.created"'), ("null", b"null")):
        name = f"body-is-{label}"
        cases.append(_rejected_case(name, body, 400, "body is not a JSON object"))
    name = "duplicate-type-keys"  # the last one wins, in the gateway and in Publish alike
    body = orjson.dumps(user_envelope(name))[:-1] + b',"type":"user.deleted"}'
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 user.deleted event (the last key), typed from the same data",
            one(wid(name), "user.deleted", payload="user_deleted"),
        )
    )
    name = "key-of-half-a-mebibyte"
    body = user_body(name, unsafe_metadata={"k" * (512 << 10): 1})
    cases.append(
        Case(name, post_signed(name, body), accepted(name), "1 typed event", stored_user(name))
    )
    name = "event-attributes-a-string"
    body = orjson.dumps(dict(user_envelope(name), event_attributes="GET /"))

    def no_attributes(event: Event) -> None:
        assert not event.HasField("event_attributes")

    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event without event_attributes",
            stored_user(name, also=no_attributes),
        )
    )
    return cases


def _size_cases() -> list[Case]:
    cases: list[Case] = []
    name = "body-of-exactly-1-mib"
    body = exactly(DEFAULT_MAX_BODY_BYTES, name)
    assert len(body) == DEFAULT_MAX_BODY_BYTES
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event of 1 MiB",
            one(wid(name), "user.created", payload="user_created", raw_body=body),
        )
    )
    name = "body-of-1-mib-plus-1"
    cases.append(
        _rejected_case(name, exactly(DEFAULT_MAX_BODY_BYTES + 1, name), 413, "body too large")
    )
    name = "chunked-body-of-1-mib-plus-1"
    body = exactly(DEFAULT_MAX_BODY_BYTES + 1, name)
    cases.append(
        Case(
            name,
            post(chunks_of(body), signed(body, wid(name))),
            rejected(413, "body too large"),
            "nothing",
            nothing,
        )
    )
    name = "half-a-million-small-numbers"
    cases.append(
        Case(
            name,
            post_signed(name, small_numbers_body(name)),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    name = "expanding-numbers-1e9"
    cases.append(
        _omitted_case(name, expanding_body(name), OMIT.PAYLOAD_OMISSION_TOO_LARGE, "TOO_LARGE")
    )
    return cases


def _replay_cases() -> list[Case]:
    first = "standard-webhooks-header-names"
    body = user_body(first)
    name = "valid-webhook-replayed"
    same = Case(
        name,
        post(body, signed(body, wid(first))),
        Answer(200, {"duplicate": True, "sequence": SequenceOf(wid(first))}),
        "nothing new",
        nothing,
    )
    name = "same-id-replayed-with-another-body"
    other = user_body(name)
    changed = Case(
        name,
        post(other, signed(other, wid(first))),
        Answer(200, {"duplicate": True, "sequence": SequenceOf(wid(first))}),
        "nothing new (the first body stays)",
        nothing,
    )
    return [same, changed]


def http_cases() -> list[Case]:
    """Every hostile webhook, the big bodies last (every later case reads them back)."""
    return [
        *_header_cases(),
        *_id_cases(),
        *_framing_cases(),
        *_encoding_cases(),
        *_number_cases(),
        *_shape_cases(),
        *_envelope_cases(),
        *_replay_cases(),
    ]


def big_http_cases() -> list[Case]:
    """The bodies near the size limit."""
    return _size_cases()
