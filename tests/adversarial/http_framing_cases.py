"""Hostile webhooks: lying and contradictory content-length and transfer-encoding framing."""

from __future__ import annotations

from clerkrelay.limits import DEFAULT_MAX_BODY_BYTES
from tests.adversarial.cases import Answer, Case, nothing, stores_nothing
from tests.adversarial.webhooks import INVALID_HTTP, raw, raw_signed, rejected, user_body


def framing_cases() -> list[Case]:
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
            stores_nothing(name, raw(raw_signed(name, body, length=declared), body), INVALID_HTTP)
        )
    name = "two-different-content-lengths"
    body = user_body(name)
    cases.append(
        stores_nothing(name, raw(raw_signed(name, body, b"content-length: 3"), body), INVALID_HTTP)
    )
    name = "content-length-and-chunked"
    body = user_body(name)
    cases.append(
        stores_nothing(
            name, raw(raw_signed(name, body, b"transfer-encoding: chunked"), body), INVALID_HTTP
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
