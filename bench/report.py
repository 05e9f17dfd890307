"""Writes `results.md` (the table, the machine, the notes, the profile) and `results.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures import Row, Section

__all__ = ["Report", "write"]

METHOD = (
    "Every server under test is pinned to CPU 0 (`sched_setaffinity`, every thread); the load "
    "generator, the subscribers, the profiler and the orchestrator run on CPU 1. Each figure "
    "is the median [min–max] of its runs; a baseline is measured in the same run, interleaved "
    "with the figure it is compared with, and the ratio (value ÷ baseline) is computed run by "
    "run. Load comes from separate processes, bounded in count and time; each load phase "
    "starts after `sync` has written back what earlier phases left dirty, so their writeback "
    "does not stall this phase's fsyncs. Absolute numbers on "
    "this kind of host drift by up to ±30% over minutes (see `shared/reference/perf-limits.md`); "
    "the ratios are the figures to compare."
)


@dataclass
class Report:
    """Everything one run produced.

    Attributes:
        sections: Each family's results, in the order run.
        machine: See `bench.machine.describe`.
        started: When the run started (ISO 8601, UTC).
        seconds: How long it took.
        quick: A smoke run (its figures mean nothing).
        failed: Families that raised, with the error.
    """

    sections: list[Section]
    machine: dict[str, Any]
    started: str
    seconds: float
    quick: bool
    failed: dict[str, str]


def _met(row: Row) -> str:
    met = row.met()
    return "–" if met is None else ("yes" if met else "**no**")


def _table(sections: list[Section]) -> list[str]:
    lines = [
        "| figure | value [min–max] | baseline | ratio [min–max] | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for section in sections:
        for row in section.rows:
            figure = f"{row.figure} ({row.note})" if row.note else row.figure
            target = row.target.text if row.target else "–"
            lines.append(
                f"| {figure} | {row.value_text()} | {row.baseline_text()} | {row.ratio_text()} "
                f"| {target} | {_met(row)} |"
            )
    return lines


def _machine(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; {machine['memory_gib']} GiB memory",
        f"- OS: {machine['os']}",
        f"- Python {machine['python']} (protobuf backend `{machine['protobuf_backend']}`), "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql']}",
        f"- packages: {packages}",
    ] + _host(machine.get("host_load"))


def _host(load: dict[str, float] | None) -> list[str]:
    if not load:
        return []
    return [
        f"- host load during the run: load average {load['load_average_start']:.2f} at the "
        f"start, {load['load_average_end']:.2f} at the end; all CPUs "
        f"{load['cpu_busy_share']:.0%} busy, {load['cpu_steal_share']:.1%} stolen by the "
        "hypervisor (anything above what the benchmark itself uses was other work competing "
        "for the CPUs)"
    ]


def _profile(section: Section) -> list[str]:
    summary = section.extra.get("summary")
    if not summary:
        return []
    lines = ["", "Share of busy samples by component (leaf-most matching frame):", ""]
    lines += ["| component | share |", "|---|---|"]
    lines += [f"| {name} | {share:.1%} |" for name, share in summary["components"]]
    lines += ["", "Top functions by own time:", "", "| function | own |", "|---|---|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in summary["own"]]
    lines += ["", "Top functions by inclusive time:", "", "| function | total |", "|---|---|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in summary["total"]]
    threads = ", ".join(f"{name or 'main'}: {n:,}" for name, n in summary["threads"].items())
    lines += ["", f"Samples per thread: {threads}."]
    return lines


def _markdown(report: Report) -> str:
    lines = ["# clerk-relay benchmark results", ""]
    if report.quick:
        lines += [
            "**Quick (smoke) run: tiny sizes, one run each; these figures mean nothing.**",
            "",
        ]
    lines += [
        f"`make bench` (`python -m bench`), started {report.started}, took "
        f"{report.seconds:.0f} s, everything on loopback.",
        "",
        "## Machine",
        "",
        *_machine(report.machine),
        "",
        "## Method",
        "",
        METHOD,
        "",
        "## Results",
        "",
        *_table(report.sections),
    ]
    for section in report.sections:
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {note}" for note in section.notes]
        lines += [f"- skipped: {reason}" for reason in section.skipped]
        if section.name in report.failed:
            lines.append(f"- **failed**: {report.failed[section.name]}")
        if section.name == "profile":
            lines += _profile(section)
    return "\n".join(lines) + "\n"


def _json(report: Report) -> dict[str, Any]:
    return {
        "command": "make bench",
        "started": report.started,
        "seconds": round(report.seconds, 1),
        "quick": report.quick,
        "machine": report.machine,
        "failed": report.failed,
        "sections": [
            {
                "name": section.name,
                "title": section.title,
                "figures": [row.to_json() for row in section.rows],
                "notes": section.notes,
                "skipped": section.skipped,
                "extra": section.extra,
            }
            for section in report.sections
        ],
    }


def write(report: Report, out: Path) -> tuple[Path, Path]:
    """Writes `results.md` and `results.json` into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "results.md"
    markdown.write_text(_markdown(report))
    data = out / "results.json"
    data.write_text(json.dumps(_json(report), indent=1, ensure_ascii=False) + "\n")
    return markdown, data
