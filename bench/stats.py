"""Median, min and max of repeated measurements, and percentiles of latency samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: the median of several runs, with their spread."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Figure:
        """Summarises samples (at least one)."""
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def __str__(self) -> str:
        return self.fmt(1)

    def fmt(self, decimals: int) -> str:
        """`median [min–max]` with thousands separators and `decimals` decimals."""
        return f"{self.median:,.{decimals}f} [{self.low:,.{decimals}f}–{self.high:,.{decimals}f}]"

    def to_json(self) -> dict[str, float]:
        """The figure as a JSON object."""
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.runs}


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank) of samples (at least one).

    Args:
        samples: The values, in any order.
        fraction: 0.5 for the median, 0.99 for p99, 0.999 for p99.9.
    """
    ordered = sorted(samples)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def decimals_for(value: float) -> int:
    """How many decimals make a figure readable: none for big values, more for small ones."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 0
    if magnitude >= 10:
        return 1
    return 2
