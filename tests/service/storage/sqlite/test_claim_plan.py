"""How SQLite runs a per-entity claim: by the turns' index, never by the whole pending set.

Asked for the events whose turn is set directly, SQLite's planner walks the
group's pending set by its primary key (it has no statistics, and the primary
key holds every column), and a round then costs in proportion to the backlog.
The claim reads the turns' index first (`MATERIALIZED`), then looks each event
up by its key, in sequence order, until it has enough.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from service.storage import open_store
from service.storage.consumer_sql import claim_sql


async def test_a_per_entity_claim_reads_the_turns_index_and_looks_events_up_by_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "relay.db"
    await (await open_store(f"sqlite:///{path}")).close()
    sql = claim_sql(per_entity=True)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", [0] * sql.count("?")).fetchall()
    details = [detail for *_, detail in plan]
    searches = sorted(detail for detail in details if detail.startswith(("SEARCH", "SCAN")))
    assert searches == [
        "SCAN handed",  # the materialized index entries, in sequence order
        "SCAN turns",
        "SEARCH e USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN",
        "SEARCH f USING PRIMARY KEY (group_name=? AND sequence=?)",
        "SEARCH h USING COVERING INDEX consumer_pending_turns (group_name=? AND turn=?)",
        "SEARCH p USING PRIMARY KEY (group_name=? AND sequence=?)",
        "SEARCH q USING COVERING INDEX consumer_pending_by_entity "
        "(group_name=? AND entity_key=? AND sequence<?)",
        "SEARCH t USING COVERING INDEX consumer_pending_turns (group_name=? AND turn>?)",
    ]
    assert not [detail for detail in details if "TEMP B-TREE" in detail]  # no sort: LIMIT stops it
