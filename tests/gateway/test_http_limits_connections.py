"""The HTTP server's connection cap, the descriptors it needs, and the limits' own checks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
from typing import Any

import orjson
import pytest

from gateway.app import GatewayApp
from gateway.http_limits import FD_RESERVE, HttpLimits
from tests.gateway.http_server import (
    HEALTHZ,
    SMALL,
    connect,
    read_response,
    read_to_end,
    serving,
    webhook_request,
)
from tests.processes import SOURCE_PATH

# -- connection cap ----------------------------------------------------------------


async def test_a_connection_beyond_max_connections_is_closed_unanswered(
    app: GatewayApp,
) -> None:
    async with serving(app) as port:
        held = [await connect(port) for _ in range(SMALL.max_connections)]
        for reader, writer in held:  # each is served, so each is surely accepted
            writer.write(HEALTHZ)
            assert (await read_response(reader))[0] == 200
        reader, writer = await connect(port)
        refused = await read_to_end(reader)
        writer.close()

        held.pop()[1].close()  # one leaves: a newcomer is served again
        async with asyncio.timeout(5):
            while True:
                reader, writer = await connect(port)
                head, body = webhook_request("msg_limit_6")
                writer.write(head + body)
                with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                    status, _, answer = await read_response(reader)
                    break
                writer.close()  # accepted before the departure was noticed: again
                await asyncio.sleep(0.05)
        writer.close()
        for _, held_writer in held:
            held_writer.close()
    assert refused == b""
    assert (status, orjson.loads(answer)) == (200, {"sequence": 1})


# -- settings and descriptors ------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"max_header_bytes": 0},
        {"header_timeout_s": 0.0},
        {"body_timeout_s": -1.0},
        {"keep_alive_timeout_s": 0},
        {"max_connections": 0},
    ],
)
def test_limits_refuse_values_that_would_disable_them(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        HttpLimits(**change)


FD_PROBE = """
import logging, resource, sys
from gateway.http_limits import fit_fd_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
logging.basicConfig(stream=sys.stdout, format="%(message)s")
fit_fd_limit(2048)
print(*resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def fd_limits_after_fit(soft: int, hard: int) -> list[str]:
    """What `fit_fd_limit(2048)` does in a fresh process started with `ulimit -n` soft/hard."""
    result = subprocess.run(
        [sys.executable, "-c", FD_PROBE, str(soft), str(hard)],
        env={**os.environ, "PYTHONPATH": SOURCE_PATH},
        capture_output=True,
        check=True,
        timeout=30,
    )
    return result.stdout.decode().splitlines()


def test_the_descriptor_limit_is_raised_to_hold_the_connection_cap() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048 + FD_RESERVE:
        pytest.skip(f"this machine's hard descriptor limit ({hard}) is below the test's need")
    assert fd_limits_after_fit(1024, hard) == [f"{2048 + FD_RESERVE} {hard}"]


def test_a_hard_descriptor_limit_below_the_cap_is_warned_about() -> None:
    assert fd_limits_after_fit(1024, 1024) == [
        "open-file limit 1024 is below the 2304 that 2048 HTTP connections need; "
        "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
        "1024 1024",
    ]
