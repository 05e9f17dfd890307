"""Fixtures and hooks shared by every test folder.

A real SQLite store, a real `clerk-relay serve`, a throwaway PostgreSQL cluster
of the suite's own for tests that stop the database (see `tests.pg_cluster`),
and the session-wide check that the machine's PostgreSQL was left alone: its
postmaster start time is read when the session starts and again when it ends,
and a change fails the session (see `tests.machine_postgres`). The run ends by
printing and saving the chaos suite's summary of every scenario it ran (see
`tests.chaos.report`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.storage.sqlite import SqliteStore
from tests.chaos.report import from_report, render, summary_path
from tests.chaos.scenario import ScenarioSummary
from tests.contract.conftest import POSTGRES_URL
from tests.machine_postgres import Observation, Verdict, judge, observe
from tests.pg_cluster import Cluster, unavailable
from tests.processes import RelayProcess, running, serve

_MACHINE_AT_START = pytest.StashKey[Observation]()
_MACHINE_VERDICT = pytest.StashKey[Verdict]()
_chaos_summaries: list[ScenarioSummary] = []
"""The chaos scenarios' summaries that this run's test reports carried."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A fresh SQLite store in `tmp_path`, closed after the test."""
    opened = await SqliteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    """`clerk-relay serve` on free loopback ports, over a SQLite file in `tmp_path`."""
    process = serve(tmp_path)
    with running(process):
        yield process


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[Cluster]:
    """The suite's own PostgreSQL cluster, started once and removed at the end of the session.

    Skips (outside CI) or fails (in CI) when no cluster can be made here.
    """
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"a throwaway PostgreSQL cluster is required in CI: {reason}")
        pytest.skip(f"{reason}; CI runs these tests")
    cluster = Cluster.create()
    try:
        yield cluster
    finally:
        cluster.remove()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Records the machine's PostgreSQL postmaster start time (or why it did not answer)."""
    session.config.stash[_MACHINE_AT_START] = observe(POSTGRES_URL)


@pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fails the session when the machine's PostgreSQL was stopped or restarted during it."""
    before = session.config.stash.get(_MACHINE_AT_START, None)
    if before is None:
        return
    verdict = judge(POSTGRES_URL, before, observe(POSTGRES_URL), in_ci=bool(os.environ.get("CI")))
    session.config.stash[_MACHINE_VERDICT] = verdict
    if verdict.failed and session.exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keeps the chaos scenario summaries that a test's report carries."""
    _chaos_summaries.extend(from_report(report))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Prints and saves the chaos summary; says what the check of the machine's PostgreSQL found."""
    if _chaos_summaries:
        text = render(_chaos_summaries)
        path = summary_path()
        path.write_text(text)
        terminalreporter.section("chaos summary")
        terminalreporter.write(text)
        terminalreporter.write_line(f"(saved to {path})")
    verdict = config.stash.get(_MACHINE_VERDICT, None)
    if verdict is None:
        return
    if verdict.failed:
        terminalreporter.section("machine PostgreSQL", red=True, bold=True)
        terminalreporter.write_line(f"FAILED: {verdict.message}", red=True, bold=True)
    else:
        terminalreporter.write_line(verdict.message)
