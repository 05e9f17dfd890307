"""What an end user can put in an object the pass lists: exact big integers, deep nesting.

Users write `unsafe_metadata` themselves, so a listing can carry whatever a
webhook could: integers over 64 bits must reach the log exactly, and an object
nested too deeply to write back as JSON text is skipped and counted, without
failing the pass. The double sends such values verbatim (`orjson.Fragment`).
"""

from __future__ import annotations

import orjson

from service.storage import Store
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.pass_helpers import log, reconcile

BIG = b"1180591620717411303424"  # 2**70: no 64-bit integer, no exact double


async def test_an_integer_over_64_bits_reaches_the_log_exactly(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    (user,) = double.add("user", public_metadata={"big": orjson.Fragment(BIG)})
    report = await reconcile(api_url, mirror)
    assert report.kinds["user"].created == 1
    (stored,) = await log(mirror)
    assert b'"public_metadata":{"big":' + BIG + b"}" in stored.raw_body
    assert stored.user_created.id == user["id"]
    assert stored.user_created.public_metadata_json == '{"big":' + BIG.decode() + "}"


async def test_an_object_nested_too_deeply_to_write_is_skipped_and_counted(
    double: BackendDouble, api_url: str, mirror: Store
) -> None:
    depth = 1000  # orjson reads up to 1,024 levels; neither writer goes this deep
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    (deep,) = double.add("user", unsafe_metadata=orjson.Fragment(nested))
    (plain,) = double.add("user")
    report = await reconcile(api_url, mirror)
    kind = report.kinds["user"]
    assert (kind.scanned, kind.created, kind.unwritable, kind.complete) == (2, 1, 1, True)
    assert [e.user_created.id for e in await log(mirror)] == [plain["id"]]
    assert (await mirror.get_entity("user", deep["id"]))[0] is None
