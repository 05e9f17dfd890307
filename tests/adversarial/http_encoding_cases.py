"""Hostile webhooks: bodies not in UTF-8, byte order marks, lone surrogates, non-JSON literals."""

from __future__ import annotations

from tests.adversarial.cases import Case, stores_nothing, wid
from tests.adversarial.webhooks import post, rejected, rejected_case, signed, spliced, user_body


def encoding_cases() -> list[Case]:
    cases: list[Case] = []
    name = "body-not-utf-8"
    body = user_body(name).replace(b"John", b"J\xf6hn")
    sig = signed(user_body(name), wid(name))
    cases.append(stores_nothing(name, post(body, sig), rejected(401, "body is not UTF-8")))
    name = "utf-8-byte-order-mark"
    cases.append(
        rejected_case(
            name,
            b"\xef\xbb\xbf" + user_body(name),
            400,
            "invalid JSON: UTF-8 byte order mark (BOM) is not supported",
        )
    )
    name = "utf-16-with-byte-order-mark"
    body = user_body(name).decode().encode("utf-16")
    cases.append(stores_nothing(name, post(body, sig), rejected(401, "body is not UTF-8")))
    name = "utf-16-le-without-byte-order-mark"  # valid UTF-8 (NULs), not JSON
    cases.append(
        rejected_case(
            name,
            user_body(name).decode().encode("utf-16-le"),
            400,
            "invalid JSON: unexpected character, expected a string key",
        )
    )
    name = "lone-surrogate-escape"
    cases.append(
        rejected_case(
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
        cases.append(rejected_case(name, body, 400, f"invalid JSON: {error}"))
    name = "number-1e400"
    cases.append(
        rejected_case(
            name,
            spliced(name, "public_metadata", b'{"x":1e400}'),
            400,
            "invalid JSON: number is infinity when parsed as double",
        )
    )
    name = "trailing-garbage-after-json"
    cases.append(
        rejected_case(
            name, user_body(name) + b"}", 400, "invalid JSON: unexpected content after document"
        )
    )
    return cases
