"""Hostile webhooks near the 1 MiB body limit: exact, one over, chunked, expanding numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from clerkrelay.limits import DEFAULT_MAX_BODY_BYTES
from tests.adversarial.cases import Case, one, stores_nothing, wid
from tests.adversarial.webhooks import (
    OMIT,
    accepted,
    omitted_case,
    post,
    post_signed,
    rejected,
    rejected_case,
    signed,
    spliced,
    typed_case,
    user_body,
)


def exactly(size: int, name: str) -> bytes:
    """A `user.created` body of exactly `size` bytes (padded in `unsafe_metadata`)."""
    base = user_body(name, unsafe_metadata={"pad": ""})
    return user_body(name, unsafe_metadata={"pad": "x" * (size - len(base))})


def expanding_body(name: str) -> bytes:
    """Under 1 MiB of `1e9,`: written back as `1000000000.0`, the typed view is over 3 MiB."""
    count = (DEFAULT_MAX_BODY_BYTES - 4096) // 4
    return spliced(name, "unsafe_metadata", b'{"n":[' + b",".join([b"1e9"] * count) + b"]}")


def small_numbers_body(name: str) -> bytes:
    """Just under 1 MiB of `0,`: about half a million numbers in metadata."""
    count = (DEFAULT_MAX_BODY_BYTES - 4096) // 2
    return spliced(name, "public_metadata", b"[" + b",".join([b"0"] * count) + b"]")


def chunks_of(body: bytes) -> Callable[[], AsyncIterator[bytes]]:
    """The body streamed in 64 KiB chunks (chunked transfer encoding, no length)."""

    async def chunks() -> AsyncIterator[bytes]:
        size = 64 << 10
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return chunks


def size_cases() -> list[Case]:
    cases: list[Case] = []
    name = "body-of-exactly-1-mib"
    body = exactly(DEFAULT_MAX_BODY_BYTES, name)
    assert len(body) == DEFAULT_MAX_BODY_BYTES
    cases.append(
        Case(
            name,
            post_signed(name, body),
            accepted(name),
            "1 typed event of 1 MiB",
            one(wid(name), "user.created", payload="user_created", raw_body=body),
        )
    )
    name = "body-of-1-mib-plus-1"
    cases.append(
        rejected_case(name, exactly(DEFAULT_MAX_BODY_BYTES + 1, name), 413, "body too large")
    )
    name = "chunked-body-of-1-mib-plus-1"
    body = exactly(DEFAULT_MAX_BODY_BYTES + 1, name)
    cases.append(
        stores_nothing(
            name, post(chunks_of(body), signed(body, wid(name))), rejected(413, "body too large")
        )
    )
    name = "half-a-million-small-numbers"
    cases.append(typed_case(name, small_numbers_body(name), "1 typed event"))
    name = "expanding-numbers-1e9"
    cases.append(
        omitted_case(name, expanding_body(name), OMIT.PAYLOAD_OMISSION_TOO_LARGE, "TOO_LARGE")
    )
    return cases
