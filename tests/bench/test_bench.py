"""`make bench` must not rot: its pieces are checked here, and a quick run of two families.

No timing is asserted: only that the load is correct (signatures Svix accepts,
every webhook answered 2xx exactly once) and that the results are written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from svix.webhooks import Webhook

from bench.disk_probe import STALL_S, FsyncProbe, describe_stalls, longest_stall
from bench.loadgen import build_requests, signature, webhook_id
from bench.profile import summarize
from bench.subscribers import count_events, is_caught_up, is_fell_behind
from clerkrelay.v1.event_pb2 import Event, EventBatch
from clerkrelay.v1.event_service_pb2 import CaughtUp, FellBehind, SubscribeResponse
from service import wire
from tests.gateway.signing import sign
from tests.processes import SOURCE_PATH, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def _split(request: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    request_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return request_line, headers, body


def test_load_generator_signs_as_svix_does() -> None:
    requests = build_requests(TEST_SECRET, 8080, "msg_t_", 3)
    bodies = set()
    for index, request in enumerate(requests):
        request_line, headers, body = _split(request)
        assert request_line == "POST /webhooks/clerk HTTP/1.1"
        assert headers["svix-id"] == webhook_id("msg_t_", index) == f"msg_t_{index:08d}"
        assert int(headers["content-length"]) == len(body)
        Webhook(TEST_SECRET).verify(body, headers)  # raises if the signature is wrong
        assert headers["svix-signature"] == sign(
            TEST_SECRET, headers["svix-id"], int(headers["svix-timestamp"]), body
        )
        bodies.add(json.loads(body)["data"]["id"])
    assert bodies == {"user_msg_t_00000000", "user_msg_t_00000001", "user_msg_t_00000002"}


def test_signature_is_svix_test_vector() -> None:
    assert (
        signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_count_events_walks_the_wire_format() -> None:
    events = [Event(sequence=i, id=f"msg_{i}", raw_body=b"x" * (i * 100)) for i in range(1, 4)]
    prebuilt = SubscribeResponse(events=EventBatch(events=events)).SerializeToString()
    relay_built = wire.events_message([event.SerializeToString() for event in events])
    assert count_events(prebuilt) == count_events(relay_built) == 3
    caught_up = SubscribeResponse(caught_up=CaughtUp(sequence=7)).SerializeToString()
    fell_behind = SubscribeResponse(fell_behind=FellBehind(sequence=7)).SerializeToString()
    assert (count_events(caught_up), is_caught_up(caught_up), is_fell_behind(caught_up)) == (
        0,
        True,
        False,
    )
    assert (count_events(fell_behind), is_fell_behind(fell_behind)) == (0, True)


def test_profile_summary_shares() -> None:
    speedscope = {
        "shared": {
            "frames": [
                {"name": "main", "file": f"{ROOT}/gateway/cli.py", "line": 1},
                {"name": "verify", "file": f"{ROOT}/gateway/signature.py", "line": 2},
                {
                    "name": "append_batch",
                    "file": f"{ROOT}/service/storage/sqlite/transactions.py",
                    "line": 3,
                },
            ]
        },
        "profiles": [
            {"name": 'Thread 1 "MainThread"', "samples": [[0, 1], [0, 1], [0]], "weights": []},
            {"name": 'Thread 2 "sqlite-writer_0"', "samples": [[2]], "weights": []},
        ],
    }
    summary = summarize(speedscope)
    assert summary.samples == 4
    assert summary.threads == {"MainThread": 3, "sqlite-writer_0": 1}
    assert dict(summary.components) == {
        "signature (svix, hmac)": 0.5,
        "other": 0.25,
        "store (projection, SQLite)": 0.25,
    }
    assert summary.own[0] == ("verify (gateway/signature.py)", 0.5)
    assert ("main (gateway/cli.py)", 0.75) in summary.total


def test_fsync_probe_times_fsyncs_and_keeps_only_stalls() -> None:
    leftovers = set(Path(tempfile.gettempdir()).glob("clerk-relay-bench-fsync-*"))
    with FsyncProbe() as probe:
        deadline = time.monotonic() + 30  # a busy disk may take long over one fsync
        while probe.probes < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert probe.probes >= 2
    assert all(ms >= STALL_S * 1000 for ms in probe.stalls_ms)
    assert set(Path(tempfile.gettempdir()).glob("clerk-relay-bench-fsync-*")) == leftovers


def test_describe_stalls() -> None:
    assert longest_stall([]) == "no stall"
    assert longest_stall([12.0, 1499.6]) == "stall of 1,500 ms"
    assert describe_stalls([[], []]) == "no fsync stall ≥ 10 ms in 2 windows"
    assert describe_stalls([[], [10.0]]) == (
        "1 fsync stall ≥ 10 ms in 1 of 2 windows (longest 10 ms)"
    )
    assert describe_stalls([[12.0], [], [150.4, 30.0]]) == (
        "3 fsync stalls ≥ 10 ms in 2 of 3 windows (longest 150 ms)"
    )


def _quick_run(tmp_path: Path, families: str, timeout_s: float) -> dict[str, Any]:
    """`python -m bench --quick --only FAMILIES` into `tmp_path`; its results.json (exit 0)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", families, "--out", tmp_path],
        cwd=ROOT,
        # This checkout's client package first, not an installed one (the CLI moved into it).
        env={**os.environ, "PYTHONPATH": SOURCE_PATH},
        capture_output=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    results: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    return results


@pytest.mark.slow
def test_quick_run_of_ingest_and_fanout(tmp_path: Path) -> None:
    results = _quick_run(tmp_path, "ingest,fanout", timeout_s=100)
    assert results["quick"] is True and results["failed"] == {}
    sections = {section["name"]: section for section in results["sections"]}
    assert list(sections) == ["ingest", "fanout"]
    for section in sections.values():
        assert section["figures"], section
        assert all(figure["value"]["median"] > 0 for figure in section["figures"])
    names = [figure["figure"] for figure in sections["fanout"]["figures"]]
    assert names == [
        "fan-out to 1 subscriber, relay (batched)",
        "fan-out to 10 subscribers, relay (batched)",
    ]
    phases = sections["ingest"]["extra"]["phases"]
    for server, runs in phases.items():
        expected = "204" if server.startswith("bare") else "200"
        for result in runs["closed"] + runs["paced"]:
            assert list(result["status"]) == [expected], (server, result["status"])
            assert (result["duplicates"], result["errors"]) == (0, 0)
            assert all(ms >= 10 for ms in result["disk_stalls_ms"]), result["disk_stalls_ms"]
    assert {
        "bare Starlette 204",
        "handler",
        "handler + upsert",
        "SQLite",
        "SQLite, log level info",
    } <= set(phases)
    costs = sections["ingest"]["extra"]["per_webhook"]
    assert set(costs) == set(phases)
    assert costs["handler"]["write_bytes"]["median"] > 0  # a WAL frame per commit, at least
    assert all(cost["server_cpu_us"]["median"] > 0 for cost in costs.values())
    ingest = {figure["figure"]: figure for figure in sections["ingest"]["figures"]}
    against = "ingest, full path, `serve` on SQLite, against the handler + upsert"
    assert (ingest[against]["baseline_name"], ingest[against]["target"]) == (
        "handler + upsert",
        "≥ 3× handler + upsert",
    )
    assert ingest["ingest, full path, `serve` on SQLite"]["target"] == "≥ 0.20× bare"
    assert "server CPU per webhook" in ingest["ingest, full path, `serve` on SQLite"]["note"]
    at_info = ingest[
        "ingest, full path, `serve` on SQLite at the default log level (info: a line per "
        "webhook, written to a file)"
    ]
    assert (at_info["baseline_name"], at_info["target"]) == ("at warning", None)
    assert at_info["ratio"]["median"] > 0
    markdown = (tmp_path / "results.md").read_text()
    assert "| figure | value [min–max] | baseline | ratio [min–max] | target | met |" in markdown
    assert "ingest, full path, `serve` on SQLite" in markdown
    assert "ingest, hand-written handler + user upsert, SQLite commit per webhook" in markdown


@pytest.mark.slow
def test_quick_run_of_backfill(tmp_path: Path) -> None:
    results = _quick_run(tmp_path, "backfill", timeout_s=120)
    assert results["failed"] == {}
    [section] = results["sections"]
    figures = {figure["figure"]: figure for figure in section["figures"]}
    rate = figures["backfill of 2,000 users into SQLite (Reconcile, no rate limit)"]
    assert rate["unit"] == "users/s" and rate["value"]["median"] > 0
    assert rate["target"] == "≥ 10,000/s"
    assert "the double's serving cost" in rate["note"]
    peak = figures["serve peak RSS during the backfill of 2,000 users"]
    assert peak["value"]["median"] > 10  # MiB: a Python process at least
    per_user = section["extra"]["per_user_us"]
    assert per_user["relay"]["median"] > 0
    # The double's CPU is read in clock ticks (10 ms): over 2,000 users it may be none.
    assert per_user["double"]["median"] >= 0


@pytest.mark.slow
def test_quick_run_of_consumers(tmp_path: Path) -> None:
    results = _quick_run(tmp_path, "consumers", timeout_s=100)
    assert results["failed"] == {}
    (section,) = results["sections"]
    (figure,) = section["figures"]
    assert figure["figure"] == "3 members acking at once, 2,000 stored events"
    assert figure["value"]["median"] > 0
    assert figure["target"] == "≥ 20,000/s"
    assert "redeliveries 0 (expected 0)" in " ".join(section["notes"])


@pytest.mark.slow
def test_quick_run_of_latency_with_a_consumer_group(tmp_path: Path) -> None:
    results = _quick_run(tmp_path, "latency", timeout_s=180)
    assert results["failed"] == {}
    (section,) = results["sections"]
    figures = {figure["figure"]: figure for figure in section["figures"]}
    group = figures["end-to-end latency p99 at 500 webhooks/s, consumer group of 3 members"]
    assert group["unit"] == "ms" and group["value"]["median"] > 0
    compared = figures["consumer group p99 minus Subscribe p99, same phase (500 webhooks/s)"]
    assert compared["target"] == "≤ 2 ms"
    streams = figures["end-to-end latency p99 at 500 webhooks/s, 10 subscribers"]
    assert streams["value"]["median"] > 0
