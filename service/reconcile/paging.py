"""Where a listing of the Backend API stands: the position it continues from after a restart.

A pass saves a `ListPosition` after every page it has compared and appended
(`service.storage.Store.save_pass`), as text; `ClerkApi.list_pages` starts
from one. What it holds depends on the kind's paging
(`service.reconcile.endpoints`):

- Cursor paging (users): `tail` holds the ids of the last objects listed,
  newest last. The listing continues `starting_after` the newest; should
  Clerk refuse it (that user was deleted meanwhile), from the one before.
- Offset paging (every other kind): `offset` is the next page's offset, and
  `tail` the ids that page must begin with (the overlap with the previous
  page). When it does not, objects before it were deleted meanwhile, and the
  listing steps back until a page begins with an id it knows, as it does
  within one run; after a restart it knows only `tail`, so a long gap can
  send it back to the start (objects listed twice are compared twice, which
  appends nothing the second time).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = ["ListPosition"]


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a listing continues from; the default is its start.

    Attributes:
        offset: The next page's offset (offset paging; 0 with a cursor).
        tail: The last ids listed, newest last: the cursors to continue after,
            or the ids the next offset page must begin with.
    """

    offset: int = 0
    tail: tuple[str, ...] = ()

    @property
    def at_start(self) -> bool:
        """Nothing was listed yet."""
        return self.offset == 0 and not self.tail

    def to_text(self) -> str:
        """The position as the store keeps it (JSON)."""
        return orjson.dumps({"offset": self.offset, "tail": list(self.tail)}).decode()

    @classmethod
    def from_text(cls, text: str) -> ListPosition:
        """A position saved by `to_text`; the start for "".

        Raises:
            ValueError: The text is not a saved position.
        """
        if not text:
            return cls()
        try:
            document = orjson.loads(text)
            offset, tail = document["offset"], document["tail"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"not a listing position: {text[:80]!r}") from error
        valid = isinstance(offset, int) and offset >= 0 and isinstance(tail, list)
        if not valid or not all(isinstance(item, str) for item in tail):
            raise ValueError(f"not a listing position: {text[:80]!r}")
        return cls(offset, tuple(tail))
