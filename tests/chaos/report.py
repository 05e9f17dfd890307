"""The chaos summary: one table row per scenario, with the seed and notes to replay and explain it.

Printed at the end of the pytest run and saved to the file `CHAOS_SUMMARY`
names (by default in the temporary directory), so the README can quote it.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.chaos.scenario import ScenarioSummary

__all__ = ["SUMMARY_PROPERTY", "from_report", "render", "summary_path"]

SUMMARY_PROPERTY = "chaos_summary"
"""The name of the user property that carries a scenario's summary on its test's report."""

_COLUMNS = (
    ("scenario", "scenario"),
    ("events sent", "events_sent"),
    ("deliveries", "deliveries"),
    ("retries", "retries"),
    ("kills", "kills"),
    ("PG outages", "outages"),
    ("duplicates absorbed", "duplicates_absorbed"),
    ("bad requests rejected", "bad_rejected"),
    ("subscriber reconnects", "reconnects"),
    ("fell behind", "fell_behind"),
    ("events stored", "events_stored"),
    ("events lost", "events_lost"),
    ("seconds", "seconds"),
)


def summary_path() -> Path:
    """Where the summary is saved: `CHAOS_SUMMARY`, else a file in the temporary directory."""
    configured = os.environ.get("CHAOS_SUMMARY", "").strip()
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "clerk-relay-chaos-summary.md"


def from_report(report: pytest.TestReport) -> list[ScenarioSummary]:
    """The scenario summaries a test's call recorded (none for other phases and tests).

    They travel as plain dicts, which pytest-xdist carries from a worker to the
    process that prints the run's end.
    """
    if report.when != "call":
        return []
    carried = [fields for name, fields in report.user_properties if name == SUMMARY_PROPERTY]
    return [
        ScenarioSummary(**{**fields, "notes": tuple(fields["notes"])})
        for fields in carried
        if isinstance(fields, dict)
    ]


def _cell(summary: ScenarioSummary, attribute: str) -> str:
    if attribute == "bad_rejected":
        return f"{summary.bad_rejected}/{summary.bad_requests}"
    return str(getattr(summary, attribute))


def render(summaries: Sequence[ScenarioSummary]) -> str:
    """The summary as Markdown: a table, then each scenario's seed, statuses and notes."""
    scales = sorted({summary.scale for summary in summaries})
    lines = [
        f"Chaos suite, scale {', '.join(scales)}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()} with {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        "| " + " | ".join(title for title, _ in _COLUMNS) + " |",
        "|" + "|".join("---" for _ in _COLUMNS) + "|",
    ]
    for summary in summaries:
        lines.append("| " + " | ".join(_cell(summary, attr) for _, attr in _COLUMNS) + " |")
    lines.append("")
    for summary in summaries:
        statuses = ", ".join(f"{outcome}: {count}" for outcome, count in summary.statuses.items())
        lines.append(
            f"- {summary.scenario}: seed {summary.seed} (CHAOS_SEED={summary.seed} replays it); "
            f"{summary.subscribers} subscribers; {summary.attempts} attempts ({statuses})"
        )
        lines += [f"  - {note}" for note in summary.notes]
    total_lost = sum(summary.events_lost for summary in summaries)
    lines += ["", f"events lost: {total_lost}", ""]
    return "\n".join(lines)
