"""`UnaryCalls`: one client's unary calls, with its metadata and deadline, failing as `RelayError`s.

`RelayClient` makes one and hands it to its state helpers (`clerkrelay.state`),
which use its three shapes: `call` (any unary RPC), `get` (NOT_FOUND is None)
and `listing` (a List RPC as a `Listing` over every page).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import grpc

from clerkrelay.errors import NotFoundError, error_from_rpc
from clerkrelay.listing import Listing, Page

__all__ = ["UnaryCalls"]


class _ListResponse(Protocol):
    next_page_token: str
    snapshot_sequence: int


_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_ListResponseT = TypeVar("_ListResponseT", bound=_ListResponse)
_Record = TypeVar("_Record")


class UnaryCalls:
    """Makes unary calls with a client's metadata and deadline.

    Args:
        metadata: Sent with every call (the bearer token, if any).
        timeout_s: Deadline of each call; None waits for ever.
    """

    __slots__ = ("_metadata", "_timeout_s")

    def __init__(self, metadata: tuple[tuple[str, str], ...], timeout_s: float | None) -> None:
        self._metadata = metadata
        self._timeout_s = timeout_s

    async def call(
        self,
        rpc: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
    ) -> _Response:
        """Makes one call.

        Raises:
            RelayError: The call failed.
        """
        try:
            return await rpc(request, timeout=self._timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc(error) from None

    async def get(
        self,
        rpc: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
    ) -> _Response | None:
        """Makes one call; None when the server answers NOT_FOUND.

        Raises:
            RelayError: The call failed otherwise.
        """
        try:
            return await self.call(rpc, request)
        except NotFoundError:
            return None

    def listing(
        self,
        rpc: grpc.aio.UnaryUnaryMultiCallable[_Request, _ListResponseT],
        request: Callable[[str], _Request],
        records: Callable[[_ListResponseT], Sequence[_Record]],
    ) -> Listing[_Record]:
        """A List RPC as a `Listing`: nothing is called until it is iterated.

        Args:
            rpc: The List RPC.
            request: The request for a page token ("" for the first page).
            records: The records of a response.
        """

        async def fetch(token: str) -> Page[_Record]:
            response = await self.call(rpc, request(token))
            return Page(
                list(records(response)), response.next_page_token, response.snapshot_sequence
            )

        return Listing(fetch)
