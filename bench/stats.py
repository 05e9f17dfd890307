"""Median, min and max of repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: the median of several runs, with their spread."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> Figure:
        """Summarises samples (at least one)."""
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def __str__(self) -> str:
        return f"{self.median:,.1f} [{self.low:,.1f}–{self.high:,.1f}]"
