"""`ReconcileService` on a real relay on loopback, against the Backend API double."""

from __future__ import annotations

import asyncio
import threading

import grpc

from clerkrelay.v1.reconcile_service_pb2 import ReconcileRequest
from clerkrelay.v1.reconcile_service_pb2_grpc import (
    ReconcileServiceStub,
    add_ReconcileServiceServicer_to_server,
)
from service.auth import AuthInterceptor, Role
from service.errors import ErrorInterceptor
from service.reconcile.scheduler import Reconciliation
from service.reconcile_servicer import ReconcileServicer
from service.storage import EntityQuery, Store
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.relay_helpers import (
    StartRelay,
    eventually,
    reconcile,
    reconcile_settings,
    status_of,
)

TOKENS = {"sub-token-0001": Role.SUBSCRIBER, "adm-token-0001": Role.ADMIN}


async def _count(store: Store, kind: str) -> int:
    return len((await store.list_entities(EntityQuery(kind, limit=5000))).records)


async def test_the_rpc_streams_progress_then_the_final_counts(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 1200)
    double.add("organization", 7)
    _, channel = await start_relay(reconcile_settings(api_url))

    responses = await reconcile(channel, "user", "organization")

    *progress, last = responses
    assert all(r.HasField("progress") for r in progress) and last.HasField("summary")
    summary = last.summary
    assert summary.completed and not summary.error and summary.pass_id
    assert [k.kind for k in summary.kinds] == ["user", "organization"]
    users, orgs = summary.kinds
    assert (users.scanned, users.created, users.updated, users.deleted) == (1200, 1200, 0, 0)
    assert (orgs.scanned, orgs.created, orgs.total, orgs.done) == (7, 7, 7, True)
    assert summary.appended == 1207
    assert {p.progress.kind for p in progress} == {"user", "organization"}
    assert progress[-1].progress.done
    assert await _count(store, "user") == 1200

    again = (await reconcile(channel, "user"))[-1].summary
    assert again.completed and again.kinds[0].unchanged == 1200 and again.appended == 0


async def test_an_admin_token_is_required(
    double: BackendDouble, api_url: str, start_relay: StartRelay
) -> None:
    _, channel = await start_relay(reconcile_settings(api_url), tokens=TOKENS)

    code, details = await status_of(reconcile(channel, "user", token="sub-token-0001"))
    assert code is grpc.StatusCode.PERMISSION_DENIED, details
    code, _ = await status_of(reconcile(channel, "user"))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    responses = await reconcile(channel, "user", token="adm-token-0001")
    assert responses[-1].summary.completed


async def test_a_second_pass_is_refused_while_one_runs(
    double: BackendDouble, api_url: str, start_relay: StartRelay
) -> None:
    double.add("user", 3)
    listing, release = threading.Event(), threading.Event()

    def hold(path: str, query: object) -> None:
        listing.set()
        release.wait(10)

    double.on_request = hold
    _, channel = await start_relay(reconcile_settings(api_url))
    first = asyncio.create_task(reconcile(channel, "user"))
    await asyncio.to_thread(listing.wait, 10)

    code, details = await status_of(reconcile(channel, "organization"))
    assert code is grpc.StatusCode.ABORTED
    assert "a reconciliation pass is already running" in details

    release.set()
    assert (await first)[-1].summary.kinds[0].created == 3


async def test_without_a_key_the_rpc_says_so(start_relay: StartRelay) -> None:
    _, channel = await start_relay(None)

    code, details = await status_of(reconcile(channel))
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert "CLERK_SECRET_KEY" in details


async def test_a_kind_clerk_cannot_list_is_invalid(api_url: str, start_relay: StartRelay) -> None:
    _, channel = await start_relay(reconcile_settings(api_url))

    code, details = await status_of(reconcile(channel, "session"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "client_id" in details
    code, details = await status_of(reconcile(channel, "users"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "unknown kind" in details


async def test_a_bad_key_fails_the_pass_naming_only_its_prefix(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 2)
    wrong = "sk_test_" + "WrongKeyNotTheDoubles0123456789abcdef"
    _, channel = await start_relay(reconcile_settings(api_url, secret_key=wrong))

    summary = (await reconcile(channel))[-1].summary

    assert not summary.completed
    assert "sk_test_Wron…" in summary.error and "HTTP 401" in summary.error
    assert wrong not in summary.error
    assert [k.kind for k in summary.kinds] == ["user"]  # the pass stopped there
    assert await store.head() == 0


async def test_an_unreachable_api_fails_the_pass_and_leaves_the_mirror(
    start_relay: StartRelay, store: Store
) -> None:
    _, channel = await start_relay(reconcile_settings("http://127.0.0.1:9/v1"))

    summary = (await reconcile(channel, "user"))[-1].summary

    assert not summary.completed and "gave up after" in summary.error
    assert await store.head() == 0


async def test_the_metrics_count_the_pass(
    double: BackendDouble, api_url: str, start_relay: StartRelay
) -> None:
    double.add("user", 4)
    double.fail_next(429, retry_after_s=0)
    server, channel = await start_relay(reconcile_settings(api_url))
    assert server.reconciliation is not None
    registry = server.reconciliation.metrics.registry

    await reconcile(channel, "user")

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("clerk_relay_reconcile_entities_total", kind="user", outcome="scanned") == 4
    assert sample("clerk_relay_reconcile_entities_total", kind="user", outcome="created") == 4
    assert sample("clerk_relay_reconcile_api_requests_total", status="200") == 1
    assert sample("clerk_relay_reconcile_api_requests_total", status="429") == 1
    assert sample("clerk_relay_reconcile_rate_limited_waits_total") == 1
    assert sample("clerk_relay_reconcile_passes_total", trigger="rpc", outcome="completed") == 1
    assert (sample("clerk_relay_reconcile_last_success_timestamp_seconds", kind="user") or 0) > 0
    assert sample("clerk_relay_reconcile_running") == 0


async def test_leaving_the_call_cancels_the_pass(
    double: BackendDouble, api_url: str, start_relay: StartRelay, store: Store
) -> None:
    double.add("user", 3)
    listing, release = threading.Event(), threading.Event()

    def hold(path: str, query: object) -> None:
        listing.set()
        release.wait(10)

    double.on_request = hold
    server, channel = await start_relay(reconcile_settings(api_url))
    call = ReconcileServiceStub(channel).Reconcile(ReconcileRequest(kinds=["user"]))
    await asyncio.to_thread(listing.wait, 10)
    call.cancel()
    reconciliation = server.reconciliation
    assert reconciliation is not None

    async def ended() -> bool:
        return reconciliation.active is None

    await eventually(ended)
    release.set()
    registry = reconciliation.metrics.registry
    labels = {"trigger": "rpc", "outcome": "cancelled"}
    assert registry.get_sample_value("clerk_relay_reconcile_passes_total", labels) == 1
    assert await store.unfinished_pass() is None  # ended: not resumed at the next start-up


async def test_with_auth_off_only_callers_on_this_host_may_reconcile(
    double: BackendDouble, api_url: str, store: Store
) -> None:
    server = grpc.aio.server(
        interceptors=[AuthInterceptor({}, is_local=lambda peer: False), ErrorInterceptor()]
    )
    reconciliation = Reconciliation(store, reconcile_settings(api_url))
    add_ReconcileServiceServicer_to_server(ReconcileServicer(reconciliation), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            code, details = await status_of(reconcile(channel, "user"))
    finally:
        await server.stop(None)
    assert code is grpc.StatusCode.PERMISSION_DENIED and "host" in details
    assert reconciliation.passes == 0 and double.statuses() == []
