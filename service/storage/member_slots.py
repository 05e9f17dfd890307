"""Claim slots for a consumer group's members: round robin, each as many as it has room for.

A claim hands out waiting events lowest sequence first; `MemberSlots` says
which member takes the next one, so members that want several events
alternate instead of the first taking all.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MemberSlots"]


class MemberSlots:
    """Yields member ids round robin, each as many times as it wants."""

    def __init__(self, wants: Sequence[tuple[str, int]]) -> None:
        self._left = {member: count for member, count in wants if count > 0}

    def __iter__(self) -> MemberSlots:
        return self

    def __next__(self) -> str:
        while self._left:
            for member in list(self._left):
                self._left[member] -= 1
                if self._left[member] == 0:
                    del self._left[member]
                self._order_after(member)
                return member
        raise StopIteration

    def _order_after(self, member: str) -> None:
        """Moves `member` to the end, so the next slot goes to the next member."""
        if member in self._left:
            self._left[member] = self._left.pop(member)
