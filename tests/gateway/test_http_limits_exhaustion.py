"""Webhooks still served while half-open connections and header floods go on.

The test runs a real `clerk-relay serve`, so that the RSS it measures is the
gateway's own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.gateway.http_server import BODY, connect
from tests.gateway.signing import signed_headers
from tests.processes import TEST_SECRET, running, serve

HALF_OPEN = 400
FLOODS = 3
FLOOD_HEAD_START_BYTES = 4 << 20
"""Header bytes each flood has sent before the webhooks go (256 times the default limit)."""
RSS_GROWTH_BOUND_MIB = 32
"""Most the gateway's RSS may grow under the attack. Unlimited, three 200 MB headers grew
it by 212 MiB; limited, this attack grew it by 2.3 MiB (from 83 MiB) on the dev machine."""


def rss_mib(pid: int) -> float:
    """A process's resident set size, from /proc/PID/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Flood:
    """A client streaming an endless header, reconnecting each time the server closes it.

    `under_way` is set once it has sent `FLOOD_HEAD_START_BYTES`; `cut` counts
    the connections the server closed on it.
    """

    port: int
    sent: int = 0
    cut: int = 0
    under_way: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        chunk = b"a" * 65536
        while not stop.is_set():
            _, writer = await connect(self.port)
            try:
                writer.write(b"POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\nx-flood: ")
                while not stop.is_set():
                    writer.write(chunk)
                    await writer.drain()
                    self.sent += len(chunk)
                    if self.sent >= FLOOD_HEAD_START_BYTES:
                        self.under_way.set()
            except ConnectionError:
                self.cut += 1
            finally:
                writer.close()


async def sample_peak(pid: int, stop: asyncio.Event) -> float:
    """The highest RSS of `pid` seen every 10 ms until `stop`."""
    peak = rss_mib(pid)
    while not stop.is_set():
        await asyncio.sleep(0.01)
        peak = max(peak, rss_mib(pid))
    return peak


@pytest.mark.slow
async def test_webhooks_are_served_through_half_open_connections_and_header_floods(
    tmp_path: Path,
) -> None:
    relay = serve(tmp_path)
    with running(relay):
        assert relay.process is not None and relay.http_port is not None
        pid, port = relay.process.pid, relay.http_port
        async with httpx.AsyncClient(timeout=10) as http:

            async def post(webhook_id: str) -> tuple[int, float]:
                head = signed_headers(BODY, webhook_id=webhook_id, secrets=(TEST_SECRET,))
                started = time.monotonic()
                response = await http.post(relay.webhook_url, content=BODY, headers=head)
                return response.status_code, time.monotonic() - started

            assert (await post("msg_exhaust_0"))[0] == 200  # warm
            baseline = rss_mib(pid)
            stop = asyncio.Event()
            half_open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            floods = [Flood(port) for _ in range(FLOODS)]
            try:
                async with asyncio.timeout(60):
                    sampler = asyncio.create_task(sample_peak(pid, stop))
                    for _ in range(HALF_OPEN):
                        reader, writer = await connect(port)
                        writer.write(b"POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\ncont")
                        half_open.append((reader, writer))
                    flooding = [asyncio.create_task(f.run(stop)) for f in floods]
                    for f in floods:
                        await f.under_way.wait()
                    answers = [await post(f"msg_exhaust_{n}") for n in range(1, 6)]
                    still_open = sum(not reader.at_eof() for reader, _ in half_open)
                    stop.set()
                    await asyncio.gather(*flooding)
                    peak = await sampler
            finally:
                stop.set()
                for _, writer in half_open:
                    writer.close()
    assert still_open == HALF_OPEN  # every one was in progress throughout
    assert all(f.cut > 0 for f in floods)
    assert [status for status, _ in answers] == [200] * 5
    assert max(seconds for _, seconds in answers) < 2.0
    assert peak - baseline < RSS_GROWTH_BOUND_MIB, (baseline, peak)
