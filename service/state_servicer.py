"""`StateService`: every Get and List RPC, answered from the projection.

Nothing here is written per entity. `STATE_METHODS` is read from the service
descriptor: each `Get<X>`/`List<Xs>` method, its request and response classes,
the `<X>Record` message and the entity kind (`<X>` in snake_case), checked
against the registry of kinds (`clerkrelay.kinds`) when the module loads: the
record holds the kind's state message, and a List request has exactly the
kind's filters.
`StateServicer` gets one method per entry, named as in the generated
`StateServiceServicer` it subclasses, so `add_StateServiceServicer_to_server`
registers it like any generated servicer.

Get: an unknown id is NOT_FOUND; a deleted entity is returned with
`deleted = true` and its last state. List: pages in id order with opaque
tokens (`service.page_tokens`); every page reports the first page's snapshot
sequence, so `List` then `Subscribe(after_sequence=snapshot)` misses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from clerkrelay.kinds import FILTER_FIELDS, KIND_BY_NAME, EntityKind, ListFilters
from clerkrelay.limits import MAX_MESSAGE_BYTES
from clerkrelay.v1 import state_service_pb2, state_service_pb2_grpc
from service.errors import InvalidArgument, NotFound, quoted
from service.page_tokens import (
    PageToken,
    Selection,
    decode_page_token,
    encode_page_token,
    page_size,
)
from service.storage import EntityQuery, EntityRecord, Store

__all__ = ["SERVICE_NAME", "STATE_METHODS", "StateMethod", "StateServicer"]

_SERVICE = state_service_pb2.DESCRIPTOR.services_by_name["StateService"]

SERVICE_NAME: str = _SERVICE.full_name
"""`clerkrelay.v1.StateService`."""

if TYPE_CHECKING:
    _Context = grpc.aio.ServicerContext[Message, Message]


@dataclass(frozen=True, slots=True)
class StateMethod:
    """One StateService RPC, as read from the descriptor.

    Attributes:
        name: The RPC name (`GetUser`, `ListWaitlistEntries`).
        is_list: A List RPC (else a Get).
        kind: The entity kind it serves (see `clerkrelay.kinds`).
        request_class: The request message class.
        response_class: The response message class.
        record_class: The `<X>Record` message class.
        state_field: The record's field holding the state (`user`).
        records_field: The response field holding the record(s) (`record`, `users`).
    """

    name: str
    is_list: bool
    kind: EntityKind
    request_class: type[Message]
    response_class: type[Message]
    record_class: type[Message]
    state_field: str
    records_field: str


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _record_field(method: MethodDescriptor) -> tuple[FieldDescriptor, Descriptor]:
    """The response field holding the record(s), and the `<X>Record` message it holds.

    The field is `record` in a Get response and field 1 in a List response.
    """
    output: Descriptor = method.output_type
    field = output.fields_by_name.get("record") or output.fields_by_number.get(1)
    record = None if field is None else field.message_type
    if field is None or record is None or not record.name.endswith("Record"):
        raise RuntimeError(f"{method.full_name}: response has no <X>Record field")
    return field, record


def _describe(method: MethodDescriptor) -> StateMethod:
    """Reads one method of the descriptor into a `StateMethod`."""
    if method.name.startswith("Get"):
        is_list = False
    elif method.name.startswith("List"):
        is_list = True
    else:
        raise RuntimeError(f"{method.full_name}: StateService methods are Get<X> or List<Xs>")
    records, record = _record_field(method)
    kind = KIND_BY_NAME.get(_snake_case(record.name.removesuffix("Record")))
    state = record.fields_by_number.get(1)
    if kind is None or state is None or state.message_type is not kind.state.DESCRIPTOR:
        raise RuntimeError(f"{method.full_name}: {record.name} is not a registered entity kind")
    request: Descriptor = method.input_type
    if is_list and tuple(name for name in FILTER_FIELDS if name in request.fields_by_name) != (
        kind.filters
    ):
        raise RuntimeError(f"{method.full_name}: filters differ from {kind.name}'s in the registry")
    return StateMethod(
        name=method.name,
        is_list=is_list,
        kind=kind,
        request_class=GetMessageClass(request),
        response_class=GetMessageClass(method.output_type),
        record_class=GetMessageClass(record),
        state_field=state.name,
        records_field=records.name,
    )


STATE_METHODS: Mapping[str, StateMethod] = {
    method.name: _describe(method) for method in _SERVICE.methods
}
"""Every StateService RPC by name, in declaration order."""


def _record(method: StateMethod, entity: EntityRecord) -> Message:
    """The `<X>Record` message of a projection record."""
    state = method.kind.state.FromString(entity.state)
    return method.record_class(
        **{method.state_field: state},
        deleted=entity.deleted,
        event_sequence=entity.event_sequence,
    )


def _string_field(request: Message, name: str) -> str:
    value = getattr(request, name)
    assert isinstance(value, str)
    return value


def _fitting(records: list[Message]) -> list[Message]:
    """The leading records that fit in one response a default client can receive.

    At least one: a single record is never larger than an event, which fits.
    """
    total = 0
    for count, record in enumerate(records):
        total += record.ByteSize() + 6  # the field's tag and length
        if total > MAX_MESSAGE_BYTES and count > 0:
            return records[:count]
    return records


def _selection(method: StateMethod, request: Message) -> Selection:
    """What a List request selects (filters its kind does not have stay empty)."""
    filters = ListFilters(**{name: _string_field(request, name) for name in method.kind.filters})
    show_deleted = getattr(request, "show_deleted")  # noqa: B009 - generic over requests
    assert isinstance(show_deleted, bool)
    return Selection(method.kind.name, filters, show_deleted)


class StateServicer(state_service_pb2_grpc.StateServiceServicer):
    """Serves every StateService RPC from a store's projection.

    Register it with `add_StateServiceServicer_to_server`. Its methods
    (`GetUser`, `ListUsers`, …) are not written out: each is made from its
    `StateMethod` by `_rpc` and set on the class when the module loads.

    Args:
        store: The store; its lifetime belongs to the caller.
    """

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store


async def _get(store: Store, method: StateMethod, request: Message) -> Message:
    """Answers one Get RPC."""
    entity_id = _string_field(request, "id")
    if not entity_id:
        raise InvalidArgument("id is required")
    entity, snapshot = await store.get_entity(method.kind.name, entity_id)
    if entity is None:
        raise NotFound(f"no {method.kind.name} with id {quoted(entity_id)} has been seen")
    return method.response_class(
        **{method.records_field: _record(method, entity)}, snapshot_sequence=snapshot
    )


async def _list(store: Store, method: StateMethod, request: Message) -> Message:
    """Answers one List RPC."""
    selection = _selection(method, request)
    requested = getattr(request, "page_size")  # noqa: B009 - generic over requests
    assert isinstance(requested, int)
    limit = page_size(requested)
    text = _string_field(request, "page_token")
    token = decode_page_token(text, selection) if text else None
    page = await store.list_entities(
        EntityQuery(
            kind=selection.kind,
            filters=selection.filters,
            show_deleted=selection.show_deleted,
            after_id="" if token is None else token.after_id,
            limit=limit + 1,  # one more than asked, to know whether a next page exists
        )
    )
    entities = page.records[:limit]
    records = _fitting([_record(method, entity) for entity in entities])
    snapshot = page.snapshot_sequence if token is None else token.snapshot_sequence
    next_token = ""
    if len(page.records) > len(records):
        last_id = entities[len(records) - 1].id
        next_token = encode_page_token(PageToken(selection, last_id, snapshot))
    return method.response_class(
        **{method.records_field: records},
        next_page_token=next_token,
        snapshot_sequence=snapshot,
    )


if TYPE_CHECKING:
    _Method = Callable[[StateServicer, Message, _Context], Awaitable[Message]]


def _rpc(method: StateMethod) -> _Method:
    """The `StateServicer` method serving one RPC."""
    answer = _list if method.is_list else _get

    async def rpc(self: StateServicer, request: Message, context: _Context) -> Message:
        return await answer(self._store, method, request)

    rpc.__name__ = method.name
    rpc.__qualname__ = f"StateServicer.{method.name}"
    what = "a page of" if method.is_list else "one"
    rpc.__doc__ = f"Answers {what} `{method.record_class.DESCRIPTOR.name}` from the projection."
    return rpc


for _method in STATE_METHODS.values():
    setattr(StateServicer, _method.name, _rpc(_method))
