"""What a benchmark family reports: rows of figures (value, baseline, ratio, target) and notes."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from bench.stats import Figure, decimals_for

__all__ = ["Row", "Section", "Target"]


@dataclass(frozen=True)
class Target:
    """A goal from the issues, checked against the median of the value or of the ratio.

    Attributes:
        on: `value` or `ratio`.
        op: `>=` or `<=`.
        threshold: The bound.
        text: How the results table shows it.
    """

    on: str
    op: str
    threshold: float
    text: str

    def met(self, row: Row) -> bool | None:
        """Whether the row meets the target (None when it has nothing to compare)."""
        figure = row.ratio if self.on == "ratio" else row.value
        if figure is None:
            return None
        compare = operator.ge if self.op == ">=" else operator.le
        return bool(compare(figure.median, self.threshold))


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    Attributes:
        figure: What was measured.
        unit: The unit of `value` (and of `baseline`).
        value: Median [min–max] over the runs.
        baseline: The same measurement of the baseline, same runs, interleaved.
        baseline_name: What the baseline is.
        ratio: value ÷ baseline, computed per run.
        target: The goal, when an issue sets one.
        note: A short remark shown beside the figure.
    """

    figure: str
    unit: str
    value: Figure
    baseline: Figure | None = None
    baseline_name: str = ""
    ratio: Figure | None = None
    target: Target | None = None
    note: str = ""

    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        return None if self.target is None else self.target.met(self)

    def value_text(self) -> str:
        """`median [min–max] unit`."""
        return f"{self.value.fmt(decimals_for(self.value.median))} {self.unit}"

    def baseline_text(self) -> str:
        """The baseline's name and figure, or a dash."""
        if self.baseline is None:
            return self.baseline_name or "–"
        figure = self.baseline.fmt(decimals_for(self.baseline.median))
        return f"{self.baseline_name}: {figure} {self.unit}"

    def ratio_text(self) -> str:
        """`median× [min–max]`, or a dash."""
        if self.ratio is None:
            return "–"
        r = self.ratio
        return f"{r.median:.2f}× [{r.low:.2f}–{r.high:.2f}]"

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        met = self.met()
        return {
            "figure": self.figure,
            "unit": self.unit,
            "value": self.value.to_json(),
            "baseline_name": self.baseline_name or None,
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "ratio": None if self.ratio is None else self.ratio.to_json(),
            "target": None if self.target is None else self.target.text,
            "met": met,
            "note": self.note or None,
        }


@dataclass
class Section:
    """One benchmark family's results.

    Attributes:
        name: The family (`ingest`, `store`, …), as `--only` names it.
        title: The heading in `results.md`.
        rows: Its figures.
        notes: What limits the figures (CPU use of each process, caveats).
        extra: Anything else worth keeping in `results.json`.
        skipped: Why figures are missing (e.g. no PostgreSQL server), if any are.
    """

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
