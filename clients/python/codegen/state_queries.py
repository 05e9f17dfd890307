"""Writes `clerkrelay/state.py`: a typed helper for every StateService RPC, read from the contract.

Run by `make gen` (`check-gen` compares the result with the checked-in file):

    python clients/python/codegen/state_queries.py > clients/python/clerkrelay/state.py

The contract is compiled with its comments (`protoc --include_source_info`), so
the helpers' docstrings come from it: the entity's name from each Get RPC's
comment (`Returns the last-known state of a billing subscription.`), each
filter argument's text from its request field's comment. A `Get<X>` RPC
becomes `get_<x>(id) -> <X>Record | None`; a `List<Xs>` RPC becomes
`list_<xs>(*, <filters>, show_deleted, page_size) -> Listing[<X>Record]`.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc_tools  # type: ignore[import-untyped]  # no stubs: only `protoc.main` is used
from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
    SourceCodeInfo,
)
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[3]
PROTO = "clerkrelay/v1/state_service.proto"
LIST_FIELDS = ("page_size", "page_token", "show_deleted")  # every List request has them

# Paths into a FileDescriptorProto (descriptor.proto's field numbers).
_MESSAGE, _SERVICE, _FIELD, _METHOD = 4, 6, 2, 2


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _compile() -> FileDescriptorProto:
    """The state service's file descriptor, with its comments."""
    include = Path(str(grpc_tools.__file__)).parent / "_proto"
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "state.binpb"
        status: int = protoc.main(
            [
                "protoc",
                f"-I{ROOT / 'protos'}",
                f"-I{include}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                str(ROOT / "protos" / PROTO),
            ]
        )
        if status != 0:
            raise SystemExit(f"protoc failed on {PROTO}")
        files = FileDescriptorSet.FromString(out.read_bytes()).file
    return next(file for file in files if file.name == PROTO)


def _comments(info: SourceCodeInfo) -> dict[tuple[int, ...], str]:
    """Each element's leading comment, one line, by its path."""
    return {
        tuple(location.path): " ".join(location.leading_comments.split())
        for location in info.location
        if location.leading_comments
    }


@dataclass(frozen=True)
class _Filter:
    name: str
    doc: str  # `Only items of this payer. Empty: no filter.`


@dataclass(frozen=True)
class _Rpc:
    name: str  # `GetUser`
    request: str  # `GetUserRequest`
    record: str  # `UserRecord`
    records_field: str  # a List response's repeated field (`users`)
    noun: str  # `user`, `billing subscription`
    article: str  # `a`, `an`
    filters: tuple[_Filter, ...]


def _rpcs(file: FileDescriptorProto) -> list[_Rpc]:
    comments = _comments(file.source_code_info)
    messages: dict[str, tuple[int, DescriptorProto]] = {
        message.name: (index, message) for index, message in enumerate(file.message_type)
    }
    (service_index, service), *_ = [
        (i, s) for i, s in enumerate(file.service) if s.name == "StateService"
    ]
    nouns: dict[str, tuple[str, str]] = {}  # record → (article, noun), from the Get RPCs
    for method_index, method in enumerate(service.method):
        comment = comments[(_SERVICE, service_index, _METHOD, method_index)]
        if method.name.startswith("Get"):
            found = re.match(r"Returns the last-known state of (an?) (.+?)\. ", comment)
            if found is None:
                raise SystemExit(f"{method.name}: comment does not name the entity: {comment!r}")
            _, response = messages[method.output_type.rpartition(".")[2]]
            record = response.field[0].type_name.rpartition(".")[2]
            nouns[record] = (found.group(1), found.group(2))
    rpcs: list[_Rpc] = []
    for method in service.method:
        request_index, request = messages[method.input_type.rpartition(".")[2]]
        _, response = messages[method.output_type.rpartition(".")[2]]
        records = response.field[0]  # `record` of a Get, the repeated records of a List
        record = records.type_name.rpartition(".")[2]
        filters = tuple(
            _Filter(
                field.name,
                comments[(_MESSAGE, request_index, _FIELD, index)].replace(
                    "Empty means no filter.", "Empty: no filter."
                ),
            )
            for index, field in enumerate(request.field)
            if method.name.startswith("List") and field.name not in LIST_FIELDS
        )
        article, noun = nouns[record]
        rpcs.append(_Rpc(method.name, request.name, record, records.name, noun, article, filters))
    return rpcs


_HEADER = '''\
# Generated from protos/clerkrelay/v1/state_service.proto by clients/python/codegen/
# state_queries.py. Do not edit: change the contract or the generator, then run `make gen`.
"""Typed helpers for every StateService RPC: `get_<kind>` and `list_<kinds>`.

`get_<kind>(id)` returns the entity's `<Kind>Record` (its last-known state,
`deleted`, and the `event_sequence` that set it), or None when the relay has
never seen the id (the server's NOT_FOUND). A deleted entity is not None: it
comes back with `deleted = True` and the last state the relay saw.

`list_<kinds>(…)` returns a `Listing`: `async for record in listing` walks
every page; `await listing.collect()` returns all records with the sequence
the listing reflects (subscribe after it to miss nothing); `listing.pages()`
walks page by page. Tombstones are left out unless `show_deleted=True`.

Every other failure raises a `RelayError` subclass (see `clerkrelay.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from clerkrelay.calls import UnaryCalls
from clerkrelay.listing import Listing
from clerkrelay.v1.state_service_pb2 import (
{imports}
)

__all__ = ["StateQueries"]

if TYPE_CHECKING:  # the async stub type exists only in the .pyi
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub


class StateQueries:
    """The StateService helpers of `RelayClient` (see the module docstring).

    Args:
        stub: The StateService stub of the open channel (RuntimeError when closed).
        calls: Makes each call with the client's metadata and deadline.
    """

    __slots__ = ("_calls", "_stub")

    def __init__(self, stub: Callable[[], StateServiceAsyncStub], calls: UnaryCalls) -> None:
        self._stub = stub
        self._calls = calls
'''

_GET = '''
    async def {helper}(self, id: str, /) -> {record} | None:
        """The last-known state of {article} {noun}.

        Args:
            id: Clerk's id of the {noun}.

        Returns:
            The record (`deleted` is True for a deleted one), or None when the
            relay has never seen this id.

        Raises:
            RelayError: The call failed (InvalidArgumentError for an empty id).
        """
        response = await self._calls.get(self._stub().{rpc}, {request}(id=id))
        return None if response is None else response.record
'''

_LIST = '''
    def {helper}(
        self, *, {parameters}show_deleted: bool = False, page_size: int = 0
    ) -> Listing[{record}]:
        """Every {noun} the relay knows, in id order, a page at a time.

        Args:
{filter_docs}            show_deleted: Include deleted ones (tombstones).
            page_size: Records per page; 0 means the server's default (100), at most 1000.

        Returns:
            A `Listing` of `{record}`s; nothing is fetched until it is iterated.
        """
        return self._calls.listing(
            self._stub().{rpc},
            lambda token: {request}(
                page_size=page_size, page_token=token, show_deleted=show_deleted{filter_args}
            ),
            lambda response: response.{records_field},
        )
'''


def render(rpcs: list[_Rpc]) -> str:
    """The module's source (before `ruff format`)."""
    names = sorted({rpc.request for rpc in rpcs} | {rpc.record for rpc in rpcs})
    parts = [_HEADER.format(imports="\n".join(f"    {name}," for name in names))]
    for rpc in rpcs:
        fields = {
            "helper": _snake(rpc.name),
            "rpc": rpc.name,
            "request": rpc.request,
            "record": rpc.record,
            "noun": rpc.noun,
            "article": rpc.article,
        }
        if rpc.name.startswith("Get"):
            parts.append(_GET.format(**fields))
        else:
            parts.append(
                _LIST.format(
                    **fields,
                    records_field=rpc.records_field,
                    parameters="".join(f"{f.name}: str = '', " for f in rpc.filters),
                    filter_docs="".join(f"            {f.name}: {f.doc}\n" for f in rpc.filters),
                    filter_args="".join(f", {f.name}={f.name}" for f in rpc.filters),
                )
            )
    return "".join(parts)


def main() -> None:
    """Prints the module."""
    sys.stdout.write(render(_rpcs(_compile())))


if __name__ == "__main__":
    main()
