"""Start-up in the wrong order: `grpc` waits for PostgreSQL, `gateway` waits for `grpc`.

PostgreSQL "starts" when a TCP proxy to the machine's server begins listening
on the port the `grpc` process was given (nothing listens there before, so
every connection is refused, as while a server boots). The server itself is
never stopped. A signal ends the wait at once; a store that can never open
(a missing directory) is not retried.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.clients.proxy import Proxy
from tests.contract.conftest import POSTGRES_URL, fresh_schema, require_postgres
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET, RelayProcess, free_port, gateway, grpc_service

RETRY = re.compile(
    r"(?m)^(?P<at>\S+ \S+) WARNING clerk_relay "
    r"store not reachable, retrying in (?P<delay>\d+\.\d) s: "
    r"cannot connect to PostgreSQL at 127\.0\.0\.1:(?P<port>\d+)/\w+: connection failed: .*refused"
)


def retries(process: RelayProcess) -> list[float]:
    """The delays of the retries the process has logged so far."""
    return [float(m["delay"]) for m in RETRY.finditer(process.log.read_text())]


def wait_for_retries(process: RelayProcess, enough: int, timeout_s: float = 15.0) -> list[float]:
    """Waits until the process has logged `enough` retries, and is still running."""
    assert process.process is not None
    deadline = time.monotonic() + timeout_s
    while len(found := retries(process)) < enough:
        assert process.process.poll() is None, f"it exited:\n{process.log.read_text()}"
        assert time.monotonic() < deadline, f"too few retries:\n{process.log.read_text()}"
        time.sleep(0.05)
    return found


def moved_to(url: str, port: int) -> str:
    """The same PostgreSQL URL, on 127.0.0.1:`port`."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    where = f"127.0.0.1:{port}"
    return parts._replace(netloc=f"{user}@{where}" if user else where).geturl()


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    with fresh_schema() as url:
        yield url


@pytest.mark.postgres
async def test_grpc_waits_for_postgresql_and_gateway_waits_for_grpc(
    tmp_path: Path, schema_url: str
) -> None:
    server = urlsplit(schema_url)
    port = free_port()
    service = grpc_service(tmp_path, moved_to(schema_url, port))
    front = gateway(tmp_path, service.grpc_target)
    proxy = Proxy(server.port or 5432, port=port, target_host=server.hostname or "127.0.0.1")
    body = orjson.dumps(envelope("user.created", "user_late", 1_700_000_000_000, "msg_late")[0])
    headers = signed_headers(body, webhook_id="msg_late", secrets=(TEST_SECRET,))
    try:
        service.launch()
        front.launch()
        delays = await asyncio.to_thread(wait_for_retries, service, 4)
        assert {int(m["port"]) for m in RETRY.finditer(service.log.read_text())} == {port}
        # Exponential: 0.1 s doubling, each wait in the upper half of its step.
        assert [0.05 <= d <= 0.1 * 2**n for n, d in enumerate(delays[:4])] == [True] * 4
        assert delays[3] >= 0.4

        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            # The gateway runs without its gRPC service: alive, not ready, 503 for webhooks.
            await asyncio.to_thread(wait_until_alive, front)
            ready = await client.get(f"{front.ops_url}/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"error": "the store is not available"}
            response = await client.post(front.webhook_url, content=body, headers=headers)
            assert (response.status_code, response.json()) == (503, {"error": "store unavailable"})

            await proxy.start()  # PostgreSQL answers from now on
            await asyncio.to_thread(service.wait_ready, 20)
            await asyncio.to_thread(front.wait_ready, 20)
            response = await client.post(front.webhook_url, content=body, headers=headers)
            assert (response.status_code, response.json()) == (200, {"sequence": 1})
        # In threads: the proxy runs on this event loop, and must forward until the end.
        assert await asyncio.to_thread(front.stop) == 0
        assert await asyncio.to_thread(service.stop) == 0
        assert "Traceback" not in service.log.read_text() + front.log.read_text()
    finally:
        front.kill()
        service.kill()
        await proxy.close()


def wait_until_alive(process: RelayProcess, timeout_s: float = 15.0) -> None:
    """Waits until the process's HTTP side answers `/healthz`."""
    assert process.process is not None
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.process.poll() is None, f"it exited:\n{process.log.read_text()}"
        try:
            if httpx.get(f"{process.http_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"no answer:\n{process.log.read_text()}"
        time.sleep(0.05)


def test_sigterm_while_waiting_for_the_store_exits_at_once(tmp_path: Path) -> None:
    # Nothing listens on that port: no server is needed to be refused.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    service = grpc_service(tmp_path, url)
    service.env["CLERK_RELAY_LOG_LEVEL"] = "info"
    try:
        service.launch()
        assert service.process is not None
        deadline = time.monotonic() + 20
        while not any(d >= 0.8 for d in retries(service)):  # a long wait has begun
            assert service.process.poll() is None, service.log.read_text()
            assert time.monotonic() < deadline, service.log.read_text()
            time.sleep(0.02)
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(5) == 0
        log = service.log.read_text()
        assert "Traceback" not in log
        *_, last_retry = RETRY.finditer(log)
        stopped = re.search(
            r"(?m)^(?P<at>\S+ \S+) INFO clerk_relay stopped before the store could be opened$", log
        )
        assert stopped is not None, log
        # It stopped during the wait, not after it.
        assert logged_at(stopped["at"]) - logged_at(last_retry["at"]) < float(last_retry["delay"])
    finally:
        service.kill()


def logged_at(timestamp: str) -> float:
    """Seconds since the epoch of a log line's `2026-01-01 00:00:00,000` timestamp."""
    return datetime.strptime(timestamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_a_store_that_can_never_open_is_not_retried(tmp_path: Path) -> None:
    database = tmp_path / "missing" / "relay.db"
    service = grpc_service(tmp_path, f"sqlite:///{database}")
    try:
        service.launch()
        assert service.process is not None
        assert service.process.wait(10) == 1
        assert service.log.read_text() == (
            f"clerk-relay: cannot create {database}: directory {database.parent} does not exist\n"
        )
    finally:
        service.kill()


def test_a_login_postgresql_refuses_is_not_retried(tmp_path: Path) -> None:
    require_postgres()
    parts = urlsplit(POSTGRES_URL)
    netloc = f"relay_no_such_role@{parts.hostname}:{parts.port or 5432}"
    url = parts._replace(netloc=netloc).geturl()
    service = grpc_service(tmp_path, url)
    try:
        service.launch()
        assert service.process is not None
        assert service.process.wait(10) == 1
        log = service.log.read_text()
        assert log.startswith("clerk-relay: cannot connect to PostgreSQL at "), log
        assert 'role "relay_no_such_role" does not exist' in log
        assert log.count("\n") == 1, log
    finally:
        service.kill()
