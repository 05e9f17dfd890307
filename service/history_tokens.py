"""Opaque page tokens for `ListEntityEvents`: where the next page of one entity's history starts.

A token names the entity and kind it was made for (so it cannot continue
another listing) and the last sequence returned, sealed as every page token
is (`service.token_codec`).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidArgument
from service.token_codec import seal, unseal

__all__ = ["HistoryToken", "decode_history_token", "encode_history_token"]

_VERSION = 1
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
    return seal([_VERSION, token.entity_id, token.kind, token.after_sequence], _PERSON)


def decode_history_token(text: str, entity_id: str, kind: str) -> HistoryToken:
    """Reads a token made by `encode_history_token` for the same entity and kind.

    Raises:
        InvalidArgument: The token is not one of ours, was altered, or was made
            for another entity or kind.
    """
    _, token_entity, token_kind, after = unseal(text, _PERSON, (int, str, str, int), _VERSION)
    if (token_entity, token_kind) != (entity_id, kind):
        raise InvalidArgument(
            "page_token does not match this request: repeat the request that returned "
            "it with the same entity_id and kind, or start again without a token"
        )
    return HistoryToken(token_entity, token_kind, after)
