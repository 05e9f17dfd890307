"""The operations listener of each process kind, as started from the command line.

`serve`: the webhook listener carries only the webhook route and a bare
`/healthz`; the ops listener carries `/metrics` (the gateway's and the
subscribers'), `/healthz`, `/readyz` and the console. `grpc`: its ops listener
carries the same, with the console over its store. `gateway`: metrics and
readiness, no console (it holds no store).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import (
    TEST_SECRET,
    free_port,
    gateway,
    grpc_service,
    relay_env,
    running,
    serve,
)


def _post(url: str, webhook_id: str) -> httpx.Response:
    env, _ = envelope("user.created", f"user_{webhook_id}", 1_700_000_000_000, webhook_id)
    body = orjson.dumps(env)
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,))
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_serve_splits_the_public_and_the_ops_listener(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    with running(relay):
        assert _post(relay.webhook_url, "msg_ops_1").status_code == 200
        for path in ("/readyz", "/metrics", "/console/", "/"):
            response = httpx.get(f"{relay.http_url}{path}", timeout=10)
            assert response.status_code == 404, path
        assert httpx.get(f"{relay.http_url}/healthz", timeout=10).status_code == 200

        ready = httpx.get(f"{relay.ops_url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        metrics = httpx.get(f"{relay.ops_url}/metrics", timeout=10).text
        assert 'clerk_relay_webhooks_received_total{outcome="accepted"} 1.0' in metrics
        assert "clerk_relay_subscriber_streams 0.0" in metrics
        root = httpx.get(f"{relay.ops_url}/", timeout=10)
        assert (root.status_code, root.headers["location"]) == (307, "/console/")
        log = httpx.get(f"{relay.ops_url}/console/", timeout=10).text
        assert '<td class="svix">msg_ops_1</td>' in log
        detail = httpx.get(f"{relay.ops_url}/console/events/msg_ops_1", timeout=10)
        assert detail.status_code == 200
        chart = httpx.get(f"{relay.ops_url}/console/ingest", timeout=10).text
        assert '<tr data-outcome="accepted">' in chart
        assert chart.count('data-outcome="accepted" data-count="1"') == 1
    assert re.search(
        rf"^  ops       http://127\.0\.0\.1:{relay.ops_port}/   \(metrics, healthz, readyz, "
        r"console; keep it private\)$",
        relay.log.read_text(),
        re.MULTILINE,
    ), relay.log.read_text()


def test_grpc_and_gateway_each_have_an_ops_listener(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'relay.db'}"
    back = grpc_service(tmp_path, database_url)
    front = gateway(tmp_path, f"127.0.0.1:{back.grpc_port}")
    with running(back, front):
        assert _post(front.webhook_url, "msg_split_1").status_code == 200
        for process in (back, front):
            ready = httpx.get(f"{process.ops_url}/readyz", timeout=10)
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        back_metrics = httpx.get(f"{back.ops_url}/metrics", timeout=10).text
        assert "clerk_relay_subscriber_streams 0.0" in back_metrics
        front_metrics = httpx.get(f"{front.ops_url}/metrics", timeout=10).text
        assert 'clerk_relay_webhooks_received_total{outcome="accepted"} 1.0' in front_metrics
        log = httpx.get(f"{back.ops_url}/console/", timeout=10).text
        assert '<td class="svix">msg_split_1</td>' in log
        assert httpx.get(f"{front.ops_url}/console/", timeout=10).status_code == 404
        chart = httpx.get(f"{front.ops_url}/", timeout=10)
        assert chart.status_code == 200
        assert chart.headers["content-security-policy"].startswith("default-src 'none'")
        assert chart.text.count('data-outcome="accepted" data-count="1"') == 1
        assert '<td class="count">1</td>' in chart.text.split('data-outcome="accepted">')[-1]
        elsewhere = httpx.get(f"{back.ops_url}/console/ingest", timeout=10).text
        assert 'id="no-ingest"' in elsewhere
        assert 'id="ingest-chart"' not in elsewhere
        for path in ("/readyz", "/metrics"):
            assert httpx.get(f"{front.http_url}{path}", timeout=10).status_code == 404

        assert "readyz, ingest chart; keep it private)" in front.log.read_text()

        back.stop()
        down = httpx.get(f"{front.ops_url}/readyz", timeout=10)
        assert (down.status_code, down.json()) == (503, {"error": "the store is not available"})
        assert str(back.grpc_port) not in down.text  # no internal address


def test_a_busy_ops_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable, "-m", "clerkrelay.cli", "serve",
                "--http-addr", f"127.0.0.1:{free_port()}",
                "--grpc-addr", f"127.0.0.1:{free_port()}",
                "--ops-addr", f"127.0.0.1:{port}",
                "--database-url", f"sqlite:///{tmp_path / 'relay.db'}",
            ],
            env=relay_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"clerk-relay: cannot listen on 127.0.0.1:{port}: ")
    assert result.stderr.count("\n") == 1, result.stderr
