"""`ConsumerGroup` messages: a group's stored figures, its log lag and its members."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupMember,
    ConsumerGroupSettings,
)
from service.storage import GroupStats

__all__ = ["group_message"]


def _timestamp(time_ns: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(time_ns)
    return stamp


def group_message(stats: GroupStats, head: int) -> ConsumerGroup:
    """The `ConsumerGroup` of a group's figures, against the log's head."""
    row = stats.group
    return ConsumerGroup(
        name=row.name,
        settings=ConsumerGroupSettings.FromString(row.settings),
        create_time=_timestamp(row.create_time_ns),
        position=stats.position,
        head_sequence=head,
        lag=max(0, head - stats.position),
        pending_count=stats.pending,
        in_flight_count=stats.in_flight,
        parked_count=stats.parked,
        delivered_count=row.delivered,
        redelivered_count=row.redelivered,
        acked_count=row.acked,
        members=[
            ConsumerGroupMember(
                member_id=m.member_id,
                member_name=m.name,
                address=m.address,
                in_flight=m.in_flight,
                join_time=_timestamp(m.join_time_ns),
            )
            for m in stats.members
        ],
    )
