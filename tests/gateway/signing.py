"""Signs test webhooks with the real `svix` library, as Svix itself would deliver them."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from svix.webhooks import Webhook

# A random-looking 24-byte key, in Clerk's `whsec_<base64>` form.
SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 124))).decode()

# Svix's published known-answer test vector (see shared/clerk/DELIVERY.md §2).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature Svix sends for this delivery."""
    return Webhook(secret).sign(
        webhook_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
    )


def signed_headers(
    body: bytes,
    *,
    webhook_id: str = "msg_test_1",
    secrets: tuple[str, ...] = (SECRET,),
    timestamp: int | None = None,
    prefix: str = "svix",
) -> dict[str, str]:
    """The three headers of a delivery signed with every secret given (as during rotation).

    Args:
        body: The exact body bytes.
        webhook_id: The message id.
        secrets: The secrets to sign with, one signature each.
        timestamp: The signing time; now when None.
        prefix: `svix` or `webhook` (Standard Webhooks names).
    """
    ts = int(time.time()) if timestamp is None else timestamp
    signature = " ".join(sign(secret, webhook_id, ts, body) for secret in secrets)
    return {
        f"{prefix}-id": webhook_id,
        f"{prefix}-timestamp": str(ts),
        f"{prefix}-signature": signature,
        "content-type": "application/json",
    }


def body_of(envelope: Any) -> bytes:
    """Compact JSON bytes of a payload, as Svix would send them."""
    return orjson.dumps(envelope)
