"""Whether the test session left the machine's PostgreSQL alone, judged by its start time.

`tests/conftest.py` observes the start time of the server the suite shares
(`tests.contract.conftest.POSTGRES_URL`) when the session starts and again when
it ends; `judge` turns the two observations into a verdict. A server that was
stopped, or stopped and started again, in between fails the session: no test
may do that (tests that need an outage use `tests.pg_cluster`). Outside CI (`CI`
unset) a server that did not answer at the start makes the check skip, saying
why; in CI it is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

__all__ = ["Observation", "Verdict", "judge", "observe", "postmaster_start_time"]

Observation = datetime | str
"""The postmaster's start time, or why the server could not be asked."""


def postmaster_start_time(url: str) -> datetime:
    """When the server at `url` started (`SELECT pg_postmaster_start_time()`).

    Raises:
        psycopg.Error: No server answers at `url`, or it refused the connection.
    """
    with psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    started: datetime = row[0]
    return started


def observe(url: str) -> Observation:
    """The start time of the server at `url`, or why it did not answer."""
    try:
        return postmaster_start_time(url)
    except psycopg.Error as error:
        return " ".join(str(error).split()) or type(error).__name__


@dataclass(frozen=True, slots=True)
class Verdict:
    """The check's outcome: `failed` fails the session; `message` says what was seen."""

    failed: bool
    message: str


def judge(url: str, before: Observation, after: Observation, in_ci: bool) -> Verdict:
    """What the observations at the session's start and end say about the server at `url`."""
    if isinstance(before, str):
        if in_ci:
            return Verdict(
                True, f"PostgreSQL is required in CI but did not answer at {url}: {before}"
            )
        return Verdict(
            False,
            f"not checked that the machine's PostgreSQL was left alone: no server answered "
            f"at {url} when the session started ({before}); CI checks it",
        )
    if isinstance(after, str):
        return Verdict(
            True,
            f"the machine's PostgreSQL at {url} was running when the session started "
            f"(since {before.isoformat()}) and does not answer now ({after}): something "
            "stopped it during the session",
        )
    if after != before:
        return Verdict(
            True,
            f"the machine's PostgreSQL at {url} was restarted during the session: started "
            f"{before.isoformat()} before it, {after.isoformat()} now; no test may stop it "
            "(tests that need an outage use tests.pg_cluster) — if none did, another "
            "process on this machine restarted it",
        )
    return Verdict(
        False,
        f"the machine's PostgreSQL at {url} was left alone (running since {before.isoformat()})",
    )
