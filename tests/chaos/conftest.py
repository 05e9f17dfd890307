"""Fixtures of the chaos suite: seeds, PostgreSQL databases, and the summary at the end.

Each test gets a seed (`CHAOS_SEED` fixes it). PostgreSQL tests that leave the
server running get a fresh schema on the machine's server; tests that stop it
get a fresh database on the suite's own throwaway cluster (`tests.pg_cluster`),
never the machine's. Each scenario's summary rides on its test's report, so
the run's end (`tests.conftest`) prints and saves them all, whichever worker
ran the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from tests.chaos.report import SUMMARY_PROPERTY
from tests.chaos.scale import chaos_seed
from tests.chaos.scenario import ScenarioSummary
from tests.contract.conftest import fresh_schema
from tests.pg_cluster import Cluster


@pytest.fixture
def seed() -> int:
    """The seed of this test's random choices (`CHAOS_SEED` fixes it)."""
    return chaos_seed()


@pytest.fixture
def record_summary(request: pytest.FixtureRequest) -> Callable[[ScenarioSummary], None]:
    """Adds a scenario's summary to the run's report (through the test's own report)."""

    def record(summary: ScenarioSummary) -> None:
        request.node.user_properties.append((SUMMARY_PROPERTY, dataclasses.asdict(summary)))

    return record


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
