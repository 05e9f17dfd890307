"""grpc.aio's poller runs as a batch thread in every relay process (`service.scheduling`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.signing import body_of, signed_headers
from tests.processes import (
    SOURCE_PATH,
    TEST_SECRET,
    RelayProcess,
    gateway,
    grpc_service,
    running,
    serve,
)

_POLLER_PROBE = """
import asyncio, json, os, threading
import grpc
from service.scheduling import POLLER_SUFFIX, batch_grpc_poller

async def main():
    server = grpc.aio.server()
    server.add_insecure_port("127.0.0.1:0")
    await server.start()
    (poller,) = [t for t in threading.enumerate() if t.name.endswith(POLLER_SUFFIX)]
    before = os.sched_getscheduler(poller.native_id)
    changed = batch_grpc_poller()
    after = os.sched_getscheduler(poller.native_id)
    main_thread = os.sched_getscheduler(threading.main_thread().native_id)
    await server.stop(None)
    print(json.dumps([before, changed, after, main_thread]))

asyncio.run(main())
"""


def _probe(code: str) -> Any:
    # In a process of its own: a batch poller here would change every later test's timing.
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": SOURCE_PATH},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_grpc_poller_becomes_a_batch_thread_and_the_event_loop_does_not() -> None:
    before, changed, after, main_thread = _probe(_POLLER_PROBE)
    assert (before, changed, after) == (os.SCHED_OTHER, 1, os.SCHED_BATCH)
    assert main_thread == os.SCHED_OTHER


def _post_one(relay: RelayProcess) -> None:
    body = body_of({"type": "user.created", "object": "event", "data": {"id": "user_1"}})
    answer = httpx.post(
        relay.webhook_url, content=body, headers=signed_headers(body, secrets=(TEST_SECRET,))
    )
    assert answer.status_code == 200


def _batch_threads(relay: RelayProcess) -> int:
    """How many of the process's threads are batch threads; its main thread must not be."""
    assert relay.process is not None
    tasks = Path(f"/proc/{relay.process.pid}/task")
    policies = {int(task.name): os.sched_getscheduler(int(task.name)) for task in tasks.iterdir()}
    assert policies.pop(relay.process.pid) == os.SCHED_OTHER  # the event loop's thread
    return sum(policy == os.SCHED_BATCH for policy in policies.values())


def test_serve_runs_exactly_its_poller_as_a_batch_thread(tmp_path: Path) -> None:
    with running(serve(tmp_path)) as (relay,):
        _post_one(relay)  # so that every thread has started (the writer starts with an append)
        assert _batch_threads(relay) == 1


def test_split_processes_run_their_pollers_as_batch_threads(tmp_path: Path) -> None:
    service = grpc_service(tmp_path, f"sqlite:///{tmp_path / 'relay.db'}")
    with running(service, gateway(tmp_path, service.grpc_target)) as (grpc, web):
        _post_one(web)
        assert _batch_threads(grpc) == 1
        assert _batch_threads(web) == 1  # the poller of its channel to the grpc process
