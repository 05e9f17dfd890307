"""Webhook signature verification: Svix's "v1" scheme (Standard Webhooks), several secrets.

The secrets are read by the `svix` library (`Webhook`), which refuses what
it cannot use; the signature is HMAC-SHA256, as `Webhook.sign` computes it,
from a keyed HMAC made once per secret and copied for each webhook (about half
the CPU of `Webhook.sign`, which sets up the key and looks up the hash by name
every time). This module adds what Svix's `verify` cannot do: a configurable
timestamp tolerance, several secrets at once (Clerk secret rotation) without
re-checking the headers for each, and one exception per failure so the HTTP
layer can answer precisely.

As Svix does, the signed content is `{id}.{timestamp}.{body}` over the raw body
(which must be UTF-8), every `v1,` entry of the signature header is tried with a
constant-time comparison, and entries of other versions (`v1a,` …) are skipped.
Headers are `svix-id`, `svix-timestamp` and `svix-signature`; each falls back to
its Standard Webhooks name (`webhook-id`, …) when absent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from svix.webhooks import Webhook

from gateway.settings import parse_secrets

__all__ = [
    "BadSignature",
    "MissingHeaders",
    "SignatureError",
    "SignatureVerifier",
    "TimestampOutOfTolerance",
    "parse_secrets",
]

_HEADERS = (
    ("svix-id", "webhook-id"),
    ("svix-timestamp", "webhook-timestamp"),
    ("svix-signature", "webhook-signature"),
)


class SignatureError(Exception):
    """A webhook whose signature cannot be accepted.

    Attributes:
        status_code: The HTTP status to answer with.
        outcome: The short name of the failure (the metrics label).
    """

    status_code: ClassVar[int] = 401
    outcome: ClassVar[str] = "bad_signature"


class MissingHeaders(SignatureError):
    """The id, timestamp or signature header is absent or empty."""

    status_code = 400
    outcome = "missing_headers"


class BadSignature(SignatureError):
    """No `v1` signature matches any secret (or the headers cannot be signed)."""

    status_code = 401
    outcome = "bad_signature"


class TimestampOutOfTolerance(SignatureError):
    """The signing timestamp is too far from now, in the past or in the future."""

    status_code = 401
    outcome = "timestamp_out_of_tolerance"


class SignatureVerifier:
    """Checks webhook signatures against one or more signing secrets.

    Args:
        secrets: The signing secrets (`whsec_<base64>`, or the bare base64); a
            signature made with any of them passes.
        tolerance_s: Largest accepted distance between the timestamp header
            and now, in seconds, in either direction.
        now: The clock, in seconds since the epoch (tests freeze it).

    Raises:
        ValueError: No secret was given, or one is not a valid secret. The
            message names the secret by position only, never by value.
    """

    __slots__ = ("_keyed", "_now", "_tolerance_s")

    def __init__(
        self,
        secrets: Sequence[str],
        tolerance_s: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not secrets:
            raise ValueError("at least one webhook signing secret is required")
        if tolerance_s < 0:
            raise ValueError("tolerance_s must not be negative")
        keyed = []
        for position, secret in enumerate(secrets, start=1):
            try:
                Webhook(secret)  # svix's own checks
                keyed.append(hmac.new(_key_of(secret), digestmod=hashlib.sha256))
            except Exception:  # binascii.Error, EmptyWebhookSecretError, …
                raise ValueError(
                    f"webhook signing secret #{position} is not a valid whsec_ secret"
                ) from None
        self._keyed: tuple[hmac.HMAC, ...] = tuple(keyed)
        self._tolerance_s = tolerance_s
        self._now = now

    def __repr__(self) -> str:
        return f"SignatureVerifier(<{len(self._keyed)} secret(s)>, tolerance_s={self._tolerance_s})"

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Verifies one webhook.

        Args:
            headers: The request headers, looked up by lower-case name
                (a plain dict of lower-cased names, or case-insensitive
                headers such as Starlette's and httpx's).
            body: The raw request body, exactly as received.

        Returns:
            The webhook id (`svix-id`), which identifies the event.

        Raises:
            MissingHeaders: A required header is absent or empty.
            TimestampOutOfTolerance: The timestamp is too old or too new.
            BadSignature: The timestamp is not a number, the body is not UTF-8,
                or no `v1` signature matches any secret.
        """
        values = []
        for name, fallback in _HEADERS:
            value = headers.get(name)
            values.append(headers.get(fallback, "") if value is None else value)
        webhook_id, timestamp_header, signature_header = values
        if not (webhook_id and timestamp_header and signature_header):
            missing = [pair[0] for pair, value in zip(_HEADERS, values, strict=True) if not value]
            noun = "header" if len(missing) == 1 else "headers"
            raise MissingHeaders(f"missing {', '.join(missing)} {noun}")

        try:
            timestamp = float(timestamp_header)
        except ValueError:
            raise BadSignature("invalid svix-timestamp header") from None
        if not math.isfinite(timestamp):
            raise BadSignature("invalid svix-timestamp header")
        now = self._now()
        if timestamp < now - self._tolerance_s:
            raise TimestampOutOfTolerance("timestamp too old")
        if timestamp > now + self._tolerance_s:
            raise TimestampOutOfTolerance("timestamp too new")

        candidates = []
        for entry in signature_header.split(" "):
            version, _, signature = entry.partition(",")
            if version == "v1" and signature.isascii():
                candidates.append(signature)
        if not candidates:
            raise BadSignature("no v1 signature")
        if not body.isascii():
            try:
                body.decode()
            except UnicodeDecodeError:
                raise BadSignature("body is not UTF-8") from None

        # What `Webhook.sign` signs: the whole seconds of the time the header
        # reads as, which svix finds through a datetime (the same number when
        # the header is whole seconds, as Svix sends it).
        if timestamp.is_integer():
            seconds = int(timestamp)
        else:
            seconds = math.floor(datetime.fromtimestamp(timestamp, tz=UTC).timestamp())
        signed_head = f"{webhook_id}.{seconds}.".encode()
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(signed_head)
            mac.update(body)
            expected = base64.b64encode(mac.digest()).decode()
            for signature in candidates:
                if hmac.compare_digest(expected, signature):
                    return webhook_id
        raise BadSignature("no matching signature")


def _key_of(secret: str) -> bytes:
    """The HMAC key of a secret, read as svix reads it: base64 after `whsec_`, padding optional."""
    return base64.b64decode(secret.removeprefix("whsec_") + "==")
