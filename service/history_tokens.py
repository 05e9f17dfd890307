"""Opaque page tokens for `ListEntityEvents`: where the next page of one entity's history starts.

A token names the entity and kind it was made for (so it cannot continue
another listing) and the last sequence returned. Like the List RPCs' tokens
(`service.page_tokens`), it is base64url of a checksum followed by compact
JSON; the checksum catches corrupted or edited tokens and is no secret: a
token grants nothing the caller could not ask for directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from service.errors import InvalidArgument
from service.storage import MAX_SEQUENCE

__all__ = ["HistoryToken", "decode_history_token", "encode_history_token"]

_VERSION = 1
_CHECKSUM_BYTES = 16
_PERSON = b"clerkrelay-hist"


@dataclass(frozen=True, slots=True)
class HistoryToken:
    """Where the next page of an entity's history starts.

    Attributes:
        entity_id: The entity the listing is about.
        kind: The kind it was narrowed to, or "".
        after_sequence: The last sequence already returned.
    """

    entity_id: str
    kind: str
    after_sequence: int


def encode_history_token(token: HistoryToken) -> str:
    """The opaque text of a token."""
    body = json.dumps(
        [_VERSION, token.entity_id, token.kind, token.after_sequence],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    return base64.urlsafe_b64encode(_checksum(body) + body).rstrip(b"=").decode("ascii")


def decode_history_token(text: str, entity_id: str, kind: str) -> HistoryToken:
    """Reads a token made by `encode_history_token` for the same entity and kind.

    Raises:
        InvalidArgument: The token is not one of ours, was altered, or was made
            for another entity or kind.
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument("invalid page_token: not base64url") from error
    checksum, body = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if len(checksum) != _CHECKSUM_BYTES or not hmac.compare_digest(checksum, _checksum(body)):
        raise InvalidArgument("invalid page_token: it was altered or is not a page token")
    try:
        fields = json.loads(body)
    except ValueError as error:
        raise InvalidArgument("invalid page_token: unreadable") from error
    shape = (int, str, str, int)
    if (
        not isinstance(fields, list)
        or len(fields) != len(shape)
        or not all(type(value) is type_ for value, type_ in zip(fields, shape, strict=True))
        or fields[0] != _VERSION
        or not 0 <= fields[3] <= MAX_SEQUENCE
    ):
        raise InvalidArgument("invalid page_token: unsupported version or layout")
    token = HistoryToken(fields[1], fields[2], fields[3])
    if (token.entity_id, token.kind) != (entity_id, kind):
        raise InvalidArgument(
            "page_token does not match this request: repeat the request that returned "
            "it with the same entity_id and kind, or start again without a token"
        )
    return token


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_CHECKSUM_BYTES, person=_PERSON).digest()
