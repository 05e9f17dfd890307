"""`Member`: one Consume stream's place in a group: its deliveries in flight and its outbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from service.errors import ServiceError
from service.storage import MemberRow

__all__ = ["Member", "Outgoing"]

Outgoing = bytes | ServiceError | None
"""What the stream sends next: an encoded `ConsumeResponse`, an error to end
with, or None to end with OK."""


@dataclass(eq=False)
class Member:
    """A member connected to this process.

    Attributes:
        name: The member's own label.
        address: Its peer address.
        id: Made here, unique.
        join_time_ns: When it joined.
        in_flight: Its unsettled deliveries: sequence → (attempt, ack deadline in ns).
        outbox: Messages for its stream, in order.
        leaving: Set once its stream ended; the dispatcher then releases its events.
    """

    name: str
    address: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    join_time_ns: int = field(default_factory=time.time_ns)
    in_flight: dict[int, tuple[int, int]] = field(default_factory=dict)
    outbox: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)
    leaving: asyncio.Future[None] | None = None

    def capacity(self, max_in_flight: int, now_ns: int) -> int:
        """How many more deliveries it may take (deliveries past their deadline no longer count)."""
        expired = [seq for seq, (_, deadline) in self.in_flight.items() if deadline <= now_ns]
        for sequence in expired:
            del self.in_flight[sequence]
        return max(0, max_in_flight - len(self.in_flight))

    def row(self) -> MemberRow:
        """The member as the store records it."""
        return MemberRow(self.id, self.name, self.address, self.join_time_ns)

    def holds(self, sequence: int, attempt: int) -> bool:
        """Whether it holds this attempt of this event."""
        held = self.in_flight.get(sequence)
        return held is not None and held[0] == attempt

    def send(self, message: Outgoing) -> None:
        """Queues a message for its stream."""
        self.outbox.put_nowait(message)
