"""Resuming a pass after SIGKILL, and one pass per database across processes: real relays.

The relays are real `clerk-relay` processes (`tests.processes`) and the
Backend API is the double, served by this test process. The double holds a
chosen request until the test has killed the relay that sent it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc
import pytest

from clerkrelay.v1.event_pb2 import EventOrigin
from clerkrelay.v1.reconcile_service_pb2 import ReconcileRequest, ReconcileResponse
from clerkrelay.v1.reconcile_service_pb2_grpc import ReconcileServiceStub
from service.storage import open_store
from tests.contract.conftest import drop_schema, postgres_schema_url, require_postgres
from tests.history import event
from tests.processes import RelayProcess, grpc_service, serve
from tests.reconcile.backend_double import SECRET_KEY, BackendDouble
from tests.reconcile.relay_helpers import eventually

PAGE = 500
USERS = 5 * PAGE + 100  # six pages, the last one short
HELD_PAGE = 3  # the request the relay is killed during


class Hold:
    """Holds the double's `nth` request until released (the relay is killed meanwhile)."""

    def __init__(self, double: BackendDouble, nth: int) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        self._count = 0
        self._nth = nth
        double.on_request = self

    def __call__(self, path: str, query: Mapping[str, str]) -> None:
        self._count += 1
        if self._count == self._nth:
            self.reached.set()
            self.release.wait(30)


def _with_api(process: RelayProcess, api_url: str) -> RelayProcess:
    process.env.update(
        CLERK_SECRET_KEY=SECRET_KEY,
        CLERK_API_URL=api_url,
        CLERK_RELAY_RECONCILE_BUDGET_SHARE="1",
    )
    return process


async def _reconcile(target: str) -> list[ReconcileResponse]:
    async with grpc.aio.insecure_channel(target) as channel:
        call = ReconcileServiceStub(channel).Reconcile(ReconcileRequest(kinds=["user"]))
        return [response async for response in call]


@pytest.fixture
def served(double: BackendDouble) -> Iterator[str]:
    """The double, served, with no bodies kept (a few thousand users)."""
    double.record_bodies = False
    with double.serve() as url:
        yield url


def _position(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT position FROM reconcile_pass_kinds").fetchone()
        return str(row[0]) if row else ""


def _passes(database: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT pass_id, trigger, status FROM reconcile_passes").fetchall()


async def test_a_pass_killed_mid_listing_resumes_at_start_up_from_its_next_page(
    double: BackendDouble, served: str, tmp_path: Path
) -> None:
    users = [item["id"] for item in double.add("user", USERS)]
    database = tmp_path / "relay.db"
    seeded = await open_store(f"sqlite:///{database}")  # a user Clerk no longer has
    await seeded.append(event("user.created", "user_gone", webhook_id="msg_gone"))
    await seeded.close()
    hold = Hold(double, HELD_PAGE)
    relay = _with_api(serve(tmp_path), served).start()
    try:
        call = asyncio.create_task(_reconcile(relay.grpc_target))
        assert await asyncio.to_thread(hold.reached.wait, 30)

        async def second_page_saved() -> bool:  # the relay waits for its third page then
            return f'"{users[2 * PAGE - 1]}"]' in _position(database)

        await eventually(second_page_saved, 30)
        relay.kill()  # while its third page is on the way
        hold.release.set()
        with pytest.raises(grpc.aio.AioRpcError):
            await call
        [(pass_id, trigger, status)] = _passes(database)
        assert (trigger, status) == ("rpc", "running")

        async def held_request_answered() -> bool:  # into the void: its relay is gone
            return len(double.exchanges) == HELD_PAGE

        await eventually(held_request_answered)
        before = HELD_PAGE

        relay = _with_api(serve(tmp_path, f"sqlite:///{database}"), served).start()

        async def ended() -> bool:
            return _passes(database)[0][2] != "running"

        await eventually(ended, 60)
    finally:
        relay.stop()

    assert _passes(database) == [(pass_id, "rpc", "completed")]  # the same pass, resumed
    resumed = [dict(exchange.query) for exchange in double.exchanges[before:]]
    # Pages 3 to 6 only, each once: after the last user of page 2, then onwards.
    assert [query.get("starting_after") for query in resumed] == [
        users[2 * PAGE - 1],
        users[3 * PAGE - 1],
        users[4 * PAGE - 1],
        users[5 * PAGE - 1],
    ]
    store = await open_store(f"sqlite:///{database}")
    try:
        log = [stored.event() for stored in (await store.read(0, 100_000)).events]
        repairs = [e for e in log if e.origin == EventOrigin.EVENT_ORIGIN_RECONCILIATION]
        assert len(repairs) == len({e.id for e in repairs}) == USERS  # each exactly once
        assert {e.type for e in repairs} == {"user.created"}
        assert {e.reconcile_pass for e in repairs} == {pass_id}
        assert sorted(e.user_created.id for e in repairs) == sorted(users)
        gone, _ = await store.get_entity("user", "user_gone")
        assert gone is not None and not gone.deleted  # no deletion from a resumed listing
        assert await store.unfinished_pass() is None
    finally:
        await store.close()


@pytest.mark.postgres
async def test_one_pass_per_postgresql_database_across_grpc_processes(
    double: BackendDouble, served: str, tmp_path: Path
) -> None:
    require_postgres()
    double.add("user", 3)
    schema, url = postgres_schema_url()
    try:
        seeded = await open_store(url)  # not empty: no start-up backfill
        await seeded.append(event("user.created", "user_seed", webhook_id="msg_seed"))
        await seeded.close()
        hold = Hold(double, 1)
        first = _with_api(grpc_service(tmp_path, url), served).start()
        second = _with_api(grpc_service(tmp_path, url), served).start()
        try:
            running = asyncio.create_task(_reconcile(first.grpc_target))
            reached = await asyncio.to_thread(hold.reached.wait, 30)
            assert reached, (running.done() and running.exception(), first.log.read_text())

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _reconcile(second.grpc_target)
            assert refused.value.code() is grpc.StatusCode.ABORTED
            details = refused.value.details() or ""
            assert "a reconciliation pass is already running" in details, details
            assert "in another relay process" in details

            first.kill()  # its session ends, and the lock with it
            hold.release.set()
            with pytest.raises(grpc.aio.AioRpcError):
                await running
            summary = (await _reconcile(second.grpc_target))[-1].summary
            assert summary.completed and summary.kinds[0].created == 3
        finally:
            hold.release.set()
            second.stop()
            first.stop()
        store = await open_store(url)
        try:
            assert await store.unfinished_pass() is None  # the killed one was abandoned
        finally:
            await store.close()
    finally:
        drop_schema(schema)
