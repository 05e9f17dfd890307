"""Checking that the session left the machine's PostgreSQL alone: reading and judging."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.machine_postgres import Verdict, judge, observe, postmaster_start_time
from tests.pg_cluster import Cluster
from tests.processes import free_port

URL = "postgresql://postgres@127.0.0.1:5432/test"
STARTED = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
RESTARTED = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.postgres
def test_postmaster_start_time_is_the_one_the_server_wrote_in_postmaster_pid(
    throwaway_postgres: Cluster,
) -> None:
    # postmaster.pid's third line: the start time in Unix seconds.
    written = int((throwaway_postgres.data / "postmaster.pid").read_text().splitlines()[2])
    started = postmaster_start_time(throwaway_postgres.url)
    assert started.tzinfo is not None
    # Both are read from the clock during start-up, at moments that may straddle
    # a second: the same server started within the same second or the next.
    assert abs(started.timestamp() - written) < 2


def test_observe_says_why_when_no_server_answers() -> None:
    port = free_port()
    reason = observe(f"postgresql://postgres@127.0.0.1:{port}/test")
    assert isinstance(reason, str)
    assert f'connection to server at "127.0.0.1", port {port} failed: Connection refused' in reason


@pytest.mark.parametrize(
    ("before", "after", "in_ci", "expected"),
    [
        (
            STARTED,
            STARTED,
            True,
            Verdict(
                False,
                f"the machine's PostgreSQL at {URL} was left alone "
                "(running since 2026-12-01T09:30:00.123456+00:00)",
            ),
        ),
        (
            STARTED,
            RESTARTED,
            False,
            Verdict(
                True,
                f"the machine's PostgreSQL at {URL} was restarted during the session: started "
                "2026-12-01T09:30:00.123456+00:00 before it, 2026-12-01T10:00:00+00:00 now; "
                "no test may stop it (tests that need an outage use tests.pg_cluster) — if "
                "none did, another process on this machine restarted it",
            ),
        ),
        (
            STARTED,
            "Connection refused",
            False,
            Verdict(
                True,
                f"the machine's PostgreSQL at {URL} was running when the session started "
                "(since 2026-12-01T09:30:00.123456+00:00) and does not answer now "
                "(Connection refused): something stopped it during the session",
            ),
        ),
        (
            "Connection refused",
            "Connection refused",
            False,
            Verdict(
                False,
                "not checked that the machine's PostgreSQL was left alone: no server answered "
                f"at {URL} when the session started (Connection refused); CI checks it",
            ),
        ),
        (
            "Connection refused",
            STARTED,
            True,
            Verdict(
                True,
                f"PostgreSQL is required in CI but did not answer at {URL}: Connection refused",
            ),
        ),
    ],
    ids=["unchanged", "restarted", "stopped", "absent-outside-ci", "absent-in-ci"],
)
def test_judge(
    before: datetime | str, after: datetime | str, in_ci: bool, expected: Verdict
) -> None:
    assert judge(URL, before, after, in_ci) == expected
