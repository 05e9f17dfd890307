"""The last hour of ingest drawn as a server-rendered SVG bar chart, and a page around it.

One stacked bar per minute (oldest on the left, the current minute on the
right): accepted webhooks at the bottom, then duplicates, then each rejection
reason in its own colour. Every bar segment carries its minute, outcome and
count (`data-*` attributes, and a `<title>` the browser shows on hover); a
table under the chart gives the hour's totals by outcome. No script and no
style sheet: the colours are SVG attributes, so the console's
Content-Security-Policy (`style-src 'self'`) allows them.

The console shows `ingest_section` at `/console/ingest`; a gateway run on its
own (`clerk-relay gateway`, which has no console) serves `ingest_page` at `/`
on its operations listener.
"""

from __future__ import annotations

import html
import time

from gateway.ingest_history import Minute
from gateway.outcome import Outcome

__all__ = ["COLOURS", "ingest_page", "ingest_section", "ingest_svg"]

COLOURS: dict[Outcome, str] = {
    Outcome.ACCEPTED: "#2e7d32",
    Outcome.DUPLICATE: "#1565c0",
    Outcome.BAD_SIGNATURE: "#c62828",
    Outcome.TIMESTAMP_OUT_OF_TOLERANCE: "#ef6c00",
    Outcome.MISSING_HEADERS: "#ad1457",
    Outcome.INVALID_JSON: "#6a1b9a",
    Outcome.NOT_AN_OBJECT: "#8d6e63",
    Outcome.NO_TYPE: "#f9a825",
    Outcome.ID_TOO_LONG: "#00838f",
    Outcome.TYPE_TOO_LONG: "#4e342e",
    Outcome.TOO_LARGE: "#d84315",
    Outcome.REFUSED: "#37474f",
    Outcome.STORE_UNAVAILABLE: "#b71c1c",
}
"""Each outcome's colour in the chart and its legend."""

_BAR = 10
_GAP = 2
_LEFT = 44
_TOP = 8
_PLOT_HEIGHT = 160
_BOTTOM = 22


def _t(value: object) -> str:
    return html.escape(str(value), quote=True)


def _hhmm(start: int) -> str:
    return time.strftime("%H:%M", time.gmtime(start))


def ingest_svg(minutes: list[Minute]) -> str:
    """The chart: one stacked bar per minute, scaled to the busiest minute."""
    peak = max((minute.total for minute in minutes), default=0)
    scale = _PLOT_HEIGHT / peak if peak else 0.0
    width = _LEFT + len(minutes) * (_BAR + _GAP)
    height = _TOP + _PLOT_HEIGHT + _BOTTOM
    base = _TOP + _PLOT_HEIGHT
    parts = [
        f'<svg id="ingest-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Webhooks per minute over the last hour, by outcome">',
        f'<line x1="{_LEFT - 2}" y1="{base}" x2="{width}" y2="{base}" stroke="#888"/>',
        f'<text x="{_LEFT - 6}" y="{base}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 10}" text-anchor="end" font-size="11" '
        f'id="ingest-peak">{peak}</text>',
    ]
    for i, minute in enumerate(minutes):
        x = _LEFT + i * (_BAR + _GAP)
        y = float(base)
        for outcome, colour in COLOURS.items():
            count = minute.counts[outcome]
            if not count:
                continue
            tall = count * scale
            y -= tall
            parts.append(
                f'<rect class="segment" data-minute="{_t(_hhmm(minute.start))}" '
                f'data-outcome="{_t(outcome.value)}" data-count="{count}" x="{x}" '
                f'y="{y:.1f}" width="{_BAR}" height="{tall:.1f}" fill="{colour}">'
                f"<title>{_t(_hhmm(minute.start))} UTC: {count} {_t(outcome.value)}</title></rect>"
            )
        if i == len(minutes) - 1:  # the current minute, right-aligned to stay in the chart
            parts.append(
                f'<text x="{x + _BAR}" y="{base + 16}" text-anchor="end" font-size="11">'
                f"{_t(_hhmm(minute.start))}</text>"
            )
        elif i % 15 == 0:
            parts.append(
                f'<text x="{x}" y="{base + 16}" font-size="11">{_t(_hhmm(minute.start))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _totals(minutes: list[Minute]) -> str:
    rows = []
    for outcome, colour in COLOURS.items():
        total = sum(minute.counts[outcome] for minute in minutes)
        if total or outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE):
            swatch = (
                '<svg width="10" height="10" aria-hidden="true">'
                f'<rect width="10" height="10" fill="{colour}"/></svg>'
            )
            rows.append(
                f'<tr data-outcome="{_t(outcome.value)}"><td>{swatch} {_t(outcome.value)}</td>'
                f'<td class="count">{total}</td></tr>'
            )
    return (
        '<table id="ingest-totals" class="facts"><thead><tr><th>outcome</th>'
        f"<th>last hour</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def ingest_section(minutes: list[Minute]) -> str:
    """The chart and the hour's totals by outcome (rejection reasons only when seen)."""
    first = _hhmm(minutes[0].start) if minutes else ""
    last = _hhmm(minutes[-1].start) if minutes else ""
    return (
        f'<section id="ingest"><p class="note">Webhooks this process answered per minute, '
        f"{_t(first)}–{_t(last)} UTC (in memory: it starts empty with the process).</p>"
        f"{ingest_svg(minutes)}{_totals(minutes)}</section>"
    )


def ingest_page(minutes: list[Minute]) -> str:
    """A page of its own for the chart, reloaded every 10 seconds (no script)."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="10">'
        "<title>Ingest · clerk-relay gateway</title></head><body>"
        "<h1>Ingest, last hour</h1>"
        f"{ingest_section(minutes)}"
        '<p><a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a></p>'
        "</body></html>\n"
    )
