"""Page tokens: round trip, integrity, filter binding; page-size rules."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

import service.page_tokens
from clerkrelay.kinds import ListFilters
from service.errors import InvalidArgument
from service.page_tokens import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageToken,
    Selection,
    decode_page_token,
    encode_page_token,
    page_size,
)

FILTERS = Selection(
    "organization_membership", ListFilters(organization_id="org_1", user_id="user_é")
)
TOKEN = PageToken(FILTERS, after_id="orgmem_42", snapshot_sequence=1234)


def test_round_trip() -> None:
    text = encode_page_token(TOKEN)
    assert decode_page_token(text, FILTERS) == TOKEN


def test_token_is_url_safe_and_opaque() -> None:
    text = encode_page_token(TOKEN)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "orgmem_42" not in text


@pytest.mark.parametrize("position", [0, 5, 21, 30, -2])
def test_any_changed_character_is_rejected(position: int) -> None:
    text = encode_page_token(TOKEN)
    at = position % len(text)
    altered = text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_page_token(altered, FILTERS)


def test_edited_body_with_the_old_checksum_is_rejected() -> None:
    raw = base64.urlsafe_b64decode(encode_page_token(TOKEN) + "==")
    checksum, body = raw[:16], raw[16:]
    fields = json.loads(body)
    fields[7] = "orgmem_00"
    forged = checksum + json.dumps(fields, separators=(",", ":")).encode()
    text = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(InvalidArgument, match="altered"):
        decode_page_token(text, FILTERS)


@pytest.mark.parametrize("text", ["%%%", "abc", "A" * 200, "é", encode_page_token(TOKEN) + "="])
def test_garbage_is_rejected(text: str) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_page_token(text, FILTERS)


@pytest.mark.parametrize(
    "other",
    [
        dataclasses.replace(FILTERS, kind="user"),
        dataclasses.replace(FILTERS, filters=ListFilters("org_2", "user_é")),
        dataclasses.replace(FILTERS, filters=ListFilters(user_id="user_é")),
        dataclasses.replace(FILTERS, filters=ListFilters(organization_id="org_1")),
        dataclasses.replace(FILTERS, filters=ListFilters("org_1", "user_é", "sub_1")),
        dataclasses.replace(FILTERS, filters=ListFilters("org_1", "user_é", "", "payer_1")),
        dataclasses.replace(FILTERS, show_deleted=True),
    ],
)
def test_token_only_works_with_its_filters(other: Selection) -> None:
    with pytest.raises(InvalidArgument, match="does not match this request"):
        decode_page_token(encode_page_token(TOKEN), other)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(0, DEFAULT_PAGE_SIZE), (1, 1), (100, 100), (999, 999), (1000, 1000), (1001, MAX_PAGE_SIZE)],
)
def test_page_size(requested: int, expected: int) -> None:
    assert page_size(requested) == expected
    assert (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) == (100, 1000)


def test_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_public_surface_is_pinned() -> None:
    assert sorted(service.page_tokens.__all__) == [
        "DEFAULT_PAGE_SIZE",
        "MAX_PAGE_SIZE",
        "PageToken",
        "Selection",
        "decode_page_token",
        "encode_page_token",
        "page_size",
    ]
