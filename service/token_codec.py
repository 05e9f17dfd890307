"""Opaque page tokens: checksummed compact JSON, in base64url.

Every paged RPC (the List RPCs, `ListEntityEvents`, `ListEvents`) writes
where its next page starts into one. A token is base64url, without padding,
of a 16-byte BLAKE2b checksum (personalised per kind of token, so one kind is
never read as another) followed by a compact JSON list of fields, the first
of them a layout version. The checksum catches corrupted or edited tokens and
is no secret: a token grants nothing the caller could not ask for directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from service.errors import InvalidArgument
from service.storage import MAX_SEQUENCE

__all__ = ["seal", "unseal"]

_CHECKSUM_BYTES = 16


def seal(fields: list[Any], person: bytes) -> str:
    """The opaque text of a token holding `fields` (JSON values; the version first)."""
    body = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(_checksum(body, person) + body).rstrip(b"=").decode("ascii")


def unseal(text: str, person: bytes, shape: tuple[type, ...], version: int) -> list[Any]:
    """The fields of a token `seal` made with `person`, checked against `shape`.

    Every whole number after the version must be a sequence (0 to
    `MAX_SEQUENCE`): that is all a token's numbers are.

    Raises:
        InvalidArgument: Not base64url in the form `seal` writes, a checksum
            that does not match, or fields of another layout or version.
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument("invalid page_token: not base64url") from error
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise InvalidArgument("invalid page_token: not in canonical form")
    checksum, body = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if len(checksum) != _CHECKSUM_BYTES or not hmac.compare_digest(
        checksum, _checksum(body, person)
    ):
        raise InvalidArgument("invalid page_token: it was altered or is not a page token")
    try:
        fields = json.loads(body)
    except ValueError as error:
        raise InvalidArgument("invalid page_token: unreadable") from error
    if (
        not isinstance(fields, list)
        or len(fields) != len(shape)
        or not all(type(value) is kind for value, kind in zip(fields, shape, strict=True))
        or fields[0] != version
        or not all(0 <= value <= MAX_SEQUENCE for value in fields[1:] if type(value) is int)
    ):
        raise InvalidArgument("invalid page_token: unsupported version or layout")
    return fields


def _checksum(body: bytes, person: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_CHECKSUM_BYTES, person=person).digest()
