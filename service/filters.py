"""Subscription filters: which stored events a subscriber asked for."""

from __future__ import annotations

import re
from collections.abc import Iterable

from service.errors import quoted
from service.storage import StoredEvent

__all__ = ["EventFilter", "InvalidFilter"]

# `*`, `family.*`, or an exact `family.action`; Clerk's names are camelCase words.
_PATTERN = re.compile(r"^(\*|[A-Za-z][A-Za-z0-9_]*\.(\*|[A-Za-z][A-Za-z0-9_]*))$")


class InvalidFilter(ValueError):
    """A subscription filter that cannot be understood (INVALID_ARGUMENT)."""


class EventFilter:
    """Matches stored events by type pattern, subject id and organization.

    An event matches when its type matches any pattern (no patterns: every
    type), and, when given, one of its subject ids is among `entity_ids`, and
    it belongs to `organization_id`.
    """

    __slots__ = ("_entity_ids", "_exact", "_families", "_organization_id", "_types", "_wildcard")

    def __init__(
        self, patterns: Iterable[str], entity_ids: Iterable[str] = (), organization_id: str = ""
    ) -> None:
        self._wildcard = False
        self._exact: set[str] = set()
        self._families: set[str] = set()
        for pattern in patterns:
            if not _PATTERN.match(pattern):
                raise InvalidFilter(
                    f"invalid event type pattern {quoted(pattern)}: "
                    "use '*', a family such as 'user.*', or a type such as 'user.created'"
                )
            if pattern == "*":
                self._wildcard = True
            elif pattern.endswith(".*"):
                self._families.add(pattern[:-2])
            else:
                self._exact.add(pattern)
        if not (self._exact or self._families):
            self._wildcard = True
        self._entity_ids = frozenset(entity_ids)
        self._organization_id = organization_id
        self._types: dict[str, bool] = {}

    @property
    def matches_all(self) -> bool:
        """True when every event matches (no type, entity or organization restriction)."""
        return self._wildcard and not self._entity_ids and not self._organization_id

    def matches_type(self, event_type: str) -> bool:
        """Whether a type matches the patterns (cached: there are few types)."""
        known = self._types.get(event_type)
        if known is None:
            known = (
                self._wildcard
                or event_type in self._exact
                or event_type.partition(".")[0] in self._families
            )
            self._types[event_type] = known
        return known

    def __call__(self, event: StoredEvent) -> bool:
        """Whether a stored event matches the whole filter."""
        if not self.matches_type(event.type):
            return False
        if self._organization_id and event.organization_id != self._organization_id:
            return False
        return not self._entity_ids or not self._entity_ids.isdisjoint(event.subject_ids)
