"""Which CPU each process of a benchmark runs on.

The methodology of `shared/reference/perf-limits.md`: the server under test
runs on CPU 0; load generators, subscribers and the orchestrator on CPU 1, so
"one core" really is one core. On a one-CPU machine everything shares it.
"""

from __future__ import annotations

import os

__all__ = ["LOAD_CPU", "SERVER_CPU", "cpu_set", "pin_self"]

SERVER_CPU = 0
"""The CPU the server under test runs on."""

LOAD_CPU = 1
"""The CPU load generators, subscribers and the orchestrator run on."""


def cpu_set(cpu: int) -> set[int]:
    """`{cpu}` when the machine has that CPU, else every CPU it has."""
    available = set(range(os.cpu_count() or 1))
    return {cpu} if cpu in available else available


def pin_self(cpu: int) -> None:
    """Pins this process's calling thread (and what it starts later) to `cpu`."""
    os.sched_setaffinity(0, cpu_set(cpu))
