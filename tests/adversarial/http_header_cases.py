"""Hostile webhooks: missing, mixed and duplicated svix headers, bad signatures and timestamps."""

from __future__ import annotations

import time
from typing import Any

from tests.adversarial.cases import Case, stores_nothing, wid
from tests.adversarial.webhooks import (
    Headers,
    accepted,
    post,
    post_signed,
    rejected,
    rejected_case,
    replaced,
    signed,
    stored_user,
    user_body,
    without,
)
from tests.gateway.signing import OTHER_SECRET, sign

NOW = int(time.time())


def header_cases() -> list[Case]:
    cases: list[Case] = []
    for header in ("svix-id", "svix-timestamp", "svix-signature"):
        name = f"missing-{header}"
        body = user_body(name)
        cases.append(
            stores_nothing(
                name,
                post(body, without(signed(body, wid(name)), header)),
                rejected(400, f"missing {header} header"),
            )
        )
    name = "no-svix-headers-at-all"
    cases.append(
        stores_nothing(
            name,
            post(user_body(name), [(b"content-type", b"application/json")]),
            rejected(400, "missing svix-id, svix-timestamp, svix-signature headers"),
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
        stores_nothing(
            name,
            post(
                body,
                [
                    *replaced(signed(body, wid(name)), "svix-id", b""),
                    (b"webhook-id", wid(name).encode()),
                ],
            ),
            rejected(400, "missing svix-id header"),
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
        stores_nothing(
            name,
            post(body, [(b"svix-id", b"msg_adv_garbage_first"), *signed(body, wid(name))]),
            rejected(401, "no matching signature"),
        )
    )
    name = "signature-made-with-another-secret"
    body = user_body(name)
    cases.append(
        stores_nothing(
            name,
            post(body, signed_headers_with(body, wid(name), OTHER_SECRET)),
            rejected(401, "no matching signature"),
        )
    )
    name = "garbage-signatures-then-a-valid-one"
    body = user_body(name)
    good = dict(signed(body, wid(name)))[b"svix-signature"]
    garbage = b"v1,AAAA v1, v1a,xyz ,, v2,abc v1,\xe9\xe9 "
    cases.append(
        Case(
            name,
            post_with_header(name, "svix-signature", garbage + good),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    name = "only-a-v2-signature"
    v2 = b"v2," + good.partition(b",")[2]
    cases.append(
        stores_nothing(
            name,
            post_with_header(name, "svix-signature", v2),
            rejected(401, "no v1 signature"),
        )
    )
    name = "v1-signature-of-latin-1-bytes"
    cases.append(
        stores_nothing(
            name,
            post_with_header(name, "svix-signature", b"v1,\xe9\xff"),
            rejected(401, "no v1 signature"),
        )
    )
    name = "valid-signature-replayed-under-another-id"
    cases.append(
        stores_nothing(
            name,
            post_with_header(name, "svix-id", b"msg_adv_other"),
            rejected(401, "no matching signature"),
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
        cases.append(
            stores_nothing(
                name,
                post_with_header(name, "svix-timestamp", value),
                rejected(401, error),
            )
        )
    name = "timestamp-signed-an-hour-ago"
    cases.append(
        rejected_case(name, user_body(name), 401, "timestamp too old", timestamp=NOW - 3600)
    )
    name = "timestamp-with-a-fraction"  # parsed as a float; the signature covers its floor
    cases.append(
        Case(
            name,
            post_with_header(name, "svix-timestamp", f"{NOW}.25".encode(), timestamp=NOW),
            accepted(name),
            "1 typed event",
            stored_user(name),
        )
    )
    return cases


def post_with_header(name: str, header: str, value: bytes, **options: Any) -> Any:
    """A sender posting the case's signed `user.created` with one header's value replaced."""
    body = user_body(name)
    return post(body, replaced(signed(body, wid(name), **options), header, value))


def signed_headers_with(body: bytes, webhook_id: str, secret: str) -> Headers:
    """Headers of a delivery signed with another secret than the relay's."""
    return [
        (b"svix-id", webhook_id.encode()),
        (b"svix-timestamp", str(NOW).encode()),
        (b"svix-signature", sign(secret, webhook_id, NOW, body).encode()),
    ]
