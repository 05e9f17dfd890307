"""Fixtures of the chaos suite: seeds, PostgreSQL databases, and the summary at the end.

Each test gets a seed (`CHAOS_SEED` fixes it). PostgreSQL tests that leave the
server running get a fresh schema on the machine's server; tests that stop it
get a fresh database on the suite's own throwaway cluster (`tests.pg_cluster`),
never the machine's. The run ends by printing and saving the summary of every
scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.chaos.report import render, summary_path
from tests.chaos.scale import chaos_seed
from tests.chaos.scenario import ScenarioSummary
from tests.contract.conftest import fresh_schema
from tests.pg_cluster import Cluster

_SUMMARIES = pytest.StashKey[list[ScenarioSummary]]()


@pytest.fixture
def seed() -> int:
    """The seed of this test's random choices (`CHAOS_SEED` fixes it)."""
    return chaos_seed()


@pytest.fixture
def record_summary(request: pytest.FixtureRequest) -> Callable[[ScenarioSummary], None]:
    """Adds a scenario's summary to the run's report."""
    summaries = request.config.stash.setdefault(_SUMMARIES, [])
    return summaries.append


@pytest.fixture
def chaos_postgres_url() -> Iterator[str]:
    """A fresh schema on the machine's server, dropped afterwards; the test must not stop it."""
    with fresh_schema() as url:
        yield url


@pytest.fixture
def outage_postgres_url(throwaway_postgres: Cluster) -> Iterator[str]:
    """A fresh database on the throwaway cluster, the one a test may stop; dropped afterwards.

    Afterwards the cluster is running again, whatever the test did.
    """
    with throwaway_postgres.fresh_database() as url:
        yield url


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Prints the chaos summary and saves it (see `tests.chaos.report`)."""
    summaries = config.stash.get(_SUMMARIES, [])
    if not summaries:
        return
    text = render(summaries)
    path = summary_path()
    path.write_text(text)
    terminalreporter.section("chaos summary")
    terminalreporter.write(text)
    terminalreporter.write_line(f"(saved to {path})")
