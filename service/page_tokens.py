"""Opaque page tokens for the List RPCs, and page-size rules.

A token carries what the next page needs: the entity kind and list filters
that produced it (so it cannot be replayed with other filters), the last id
returned, and the snapshot sequence of the first page (so every page of one
listing reports the same snapshot). It is base64url of a checksum followed by
compact JSON. The checksum (BLAKE2b, not keyed) catches corrupted or edited
tokens; it is not a secret, and needs none: a token grants nothing the caller
could not ask for directly, and any relay process sharing the database can
continue a listing another one started.
"""

from __future__ import annotations

from dataclasses import dataclass

from clerkrelay.kinds import FILTER_FIELDS, ListFilters
from service.errors import InvalidArgument
from service.token_codec import seal, unseal

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PageToken",
    "Selection",
    "decode_page_token",
    "encode_page_token",
    "page_size",
]

DEFAULT_PAGE_SIZE = 100
"""Records per page when the request says 0."""

MAX_PAGE_SIZE = 1000
"""Larger requested page sizes are lowered to this."""

_VERSION = 1
_PERSON = b"clerkrelay-page"


@dataclass(frozen=True, slots=True)
class Selection:
    """What a listing selects; a page token only continues the same selection."""

    kind: str
    filters: ListFilters = ListFilters()
    show_deleted: bool = False


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where the next page of a listing starts.

    Attributes:
        selection: The selection the token belongs to.
        after_id: The last id already returned; the next page starts after it.
        snapshot_sequence: The log head the first page reflected.
    """

    selection: Selection
    after_id: str
    snapshot_sequence: int


def page_size(requested: int) -> int:
    """The page size to use: 0 is the default, anything above the maximum is the maximum.

    Raises:
        InvalidArgument: `requested` is negative.
    """
    if requested < 0:
        raise InvalidArgument(f"page_size must not be negative (got {requested})")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_page_token(token: PageToken) -> str:
    """The opaque text of a token."""
    selection = token.selection
    fields = [
        _VERSION,
        selection.kind,
        *selection.filters.values(),
        selection.show_deleted,
        token.after_id,
        token.snapshot_sequence,
    ]
    return seal(fields, _PERSON)


def decode_page_token(text: str, selection: Selection) -> PageToken:
    """Reads a token made by `encode_page_token` for the same selection.

    Raises:
        InvalidArgument: The token is not one of ours, was altered, or was made
            for another kind or other filters.
    """
    shape = (int, str, *(str for _ in FILTER_FIELDS), bool, str, int)
    _, kind, *filters, show_deleted, after, snapshot = unseal(text, _PERSON, shape, _VERSION)
    token = PageToken(Selection(kind, ListFilters(*filters), show_deleted), after, snapshot)
    if token.selection != selection:
        raise InvalidArgument(
            "page_token does not match this request: repeat the request that returned "
            "it with the same filters, or start again without a token"
        )
    return token
