"""The double's ids are shaped as Clerk's: a KSUID whose leading seconds are the creation time.

Clerk's own example `user_29w83sxmDNGwOuEthce5gg56FcC` (created 2022-05-31
15:56:31 UTC, `tests/fixtures/examples/user.created.docs.json`) decodes to
the same second, so a list of Clerk's users sorts by creation time to the
second, and so does the double's: the order in which a backfill meets ids is
the one it would meet at Clerk.
"""

from __future__ import annotations

import json
import random

from tests.examples import EXAMPLES
from tests.reconcile.double_objects import KSUID_DIGITS, KSUID_EPOCH_S, clerk_id


def _created_second(object_id: str) -> int:
    """The Unix second a KSUID-shaped id was made in (its top 32 bits, from the KSUID epoch)."""
    number = 0
    for digit in object_id.rsplit("_", 1)[1]:
        number = number * 62 + KSUID_DIGITS.index(digit)
    return (number >> 128) + KSUID_EPOCH_S


def test_clerks_example_id_holds_its_creation_second() -> None:
    data = json.loads((EXAMPLES / "user.created.docs.json").read_text())["data"]
    assert data["id"] == "user_29w83sxmDNGwOuEthce5gg56FcC"
    assert _created_second(data["id"]) == data["created_at"] // 1000 == 1_654_012_591


def test_the_doubles_ids_hold_their_creation_second_and_sort_by_it() -> None:
    rng = random.Random(7)
    created_ms = [1_654_012_591_514 + step * 1_000 for step in range(50)]
    ids = [clerk_id("user", at, rng) for at in created_ms]
    assert [_created_second(object_id) for object_id in ids] == [at // 1000 for at in created_ms]
    assert all(len(object_id) == len("user_") + 27 for object_id in ids)
    assert sorted(ids) == ids
    assert clerk_id("user", created_ms[0], rng)[:10] == "user_29w83"  # Clerk's example's second
