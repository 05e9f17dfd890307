"""The relay SIGKILLed and restarted several times under a Svix-like load, SQLite and PostgreSQL.

Meanwhile subscribers disconnect and resume at random, one reads slowly, and
bad requests are mixed in. Afterwards every acknowledged webhook is stored
exactly once, every subscriber saw every matching event in order without a
gap, the projection equals the in-order one, and no bad request stored
anything (see `tests.chaos.scenario`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.scale import chaos_scale
from tests.chaos.scenario import ChaosRun, ScenarioSummary, run_scenario
from tests.processes import serve

SCALE = chaos_scale()

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(SCALE.timeout_s)]


async def kill_repeatedly(chaos: ChaosRun) -> None:
    """SIGKILLs the relay `scale.kills` times while the sender works, restarting it each time."""
    async for _ in chaos.disruptions(chaos.scale.kills):
        await chaos.kill_and_restart()


def _assert_intact(summary: ScenarioSummary, problems: list[str]) -> None:
    assert problems == [], f"seed {summary.seed}:\n" + "\n".join(problems)
    assert summary.kills == SCALE.kills
    assert summary.events_lost == 0
    assert summary.events_stored == summary.events_sent
    assert summary.bad_rejected == summary.bad_requests


async def test_sqlite_relay_survives_repeated_sigkill(
    tmp_path: Path, seed: int, record_summary: Callable[[ScenarioSummary], None]
) -> None:
    # A live buffer of 4 events: the slow subscriber overflows it again and
    # again, so every fell_behind → log → caught_up hand-over runs under chaos.
    relay = serve(tmp_path, None, "--live-buffer", "4")
    summary, problems = await run_scenario(
        "SIGKILL + restart, SQLite",
        relay,
        f"sqlite:///{tmp_path / 'relay.db'}",
        SCALE,
        seed,
        tmp_path,
        kill_repeatedly,
    )
    record_summary(summary)
    _assert_intact(summary, problems)
    assert summary.fell_behind >= 1


@pytest.mark.postgres
async def test_postgres_relay_survives_repeated_sigkill(
    tmp_path: Path,
    seed: int,
    record_summary: Callable[[ScenarioSummary], None],
    chaos_postgres_url: str,
) -> None:
    relay = serve(tmp_path, chaos_postgres_url)
    summary, problems = await run_scenario(
        "SIGKILL + restart, PostgreSQL",
        relay,
        chaos_postgres_url,
        SCALE,
        seed,
        tmp_path,
        kill_repeatedly,
    )
    record_summary(summary)
    _assert_intact(summary, problems)
