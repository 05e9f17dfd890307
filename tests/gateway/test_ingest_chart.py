"""The ingest chart: its SVG, its totals, and the gateway's ops listener serving it at `/`."""

from __future__ import annotations

import re

import httpx

from gateway.ingest_chart import COLOURS, ingest_section, ingest_svg
from gateway.ingest_history import IngestHistory
from gateway.outcome import Outcome
from tests.gateway.app_client import PATH, USER_CREATED
from tests.gateway.signing import signed_headers
from tests.gateway.test_ingest_history import T0, Clock


def _segments(svg: str) -> list[tuple[str, str, int, float]]:
    """(minute, outcome, count, height) of every bar segment."""
    return [
        (minute, outcome, int(count), float(height))
        for minute, outcome, count, height in re.findall(
            r'<rect class="segment" data-minute="([^"]*)" data-outcome="([^"]*)" '
            r'data-count="(\d+)" x="[^"]*" y="[^"]*" width="10" height="([^"]*)"',
            svg,
        )
    ]


def test_every_outcome_has_its_own_colour() -> None:
    assert set(COLOURS) == set(Outcome)
    assert len(set(COLOURS.values())) == len(Outcome)


def test_bars_stack_per_minute_scaled_to_the_busiest() -> None:
    clock = Clock(T0 + 58 * 60)
    history = IngestHistory(clock)
    for _ in range(3):
        history.record(Outcome.ACCEPTED)
    history.record(Outcome.DUPLICATE)  # 08:58: 4 in all, the busiest minute
    clock.now = T0 + 59 * 60
    history.record(Outcome.ACCEPTED)
    history.record(Outcome.BAD_SIGNATURE)  # 08:59
    svg = ingest_svg(history.minutes())
    assert _segments(svg) == [
        ("08:58", "accepted", 3, 120.0),
        ("08:58", "duplicate", 1, 40.0),
        ("08:59", "accepted", 1, 40.0),
        ("08:59", "bad_signature", 1, 40.0),
    ]
    assert '<text x="38" y="18" text-anchor="end" font-size="11" id="ingest-peak">4</text>' in svg
    assert "<title>08:58 UTC: 3 accepted</title>" in svg
    assert svg.count("<rect") == 4


def test_the_totals_name_only_the_reasons_seen() -> None:
    history = IngestHistory(Clock(T0))
    history.record(Outcome.MISSING_HEADERS)
    history.record(Outcome.MISSING_HEADERS)
    section = ingest_section(history.minutes())
    totals = dict(
        re.findall(
            r'<tr data-outcome="([a-z_]+)"><td>.*?</td><td class="count">(\d+)</td>', section
        )
    )
    assert totals == {"accepted": "0", "duplicate": "0", "missing_headers": "2"}
    assert "08:00 UTC" in section


async def test_the_gateway_s_ops_root_is_the_chart(
    client: httpx.AsyncClient, ops: httpx.AsyncClient
) -> None:
    headers = signed_headers(USER_CREATED, webhook_id="msg_chart")
    assert (await client.post(PATH, content=USER_CREATED, headers=headers)).status_code == 200
    assert (await client.post(PATH, content=USER_CREATED, headers=headers)).status_code == 200
    assert (await client.post(PATH, content=USER_CREATED, headers={})).status_code == 400

    response = await ops.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    )
    page = response.text
    assert [(o, n) for _, o, n, _ in _segments(page)] == [
        ("accepted", 1),
        ("duplicate", 1),
        ("missing_headers", 1),
    ]
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "<script" not in page
    assert (await ops.post("/")).status_code == 405
