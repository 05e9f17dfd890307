"""Hostile webhooks: webhook ids too long or with odd bytes, and valid webhooks replayed."""

from __future__ import annotations

from tests.adversarial.cases import Answer, Case, SequenceOf, nothing, one, stores_nothing, wid
from tests.adversarial.webhooks import (
    INVALID_HTTP,
    accepted,
    post,
    raw,
    rejected,
    signed,
    user_body,
)


def id_cases() -> list[Case]:
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
        stores_nothing(
            name, post(body, signed(body, "m" * 257)), rejected(400, "webhook id over 256 bytes")
        )
    )
    name = "svix-id-of-129-latin-1-bytes"  # decoded as Latin-1: 258 bytes of UTF-8
    body = user_body(name)
    cases.append(
        stores_nothing(
            name, post(body, signed(body, "\xe9" * 129)), rejected(400, "webhook id over 256 bytes")
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
            stores_nothing(
                name, raw([*head, b"content-length: %d" % len(body)], body), INVALID_HTTP
            )
        )
    return cases


def replay_cases() -> list[Case]:
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
