"""`/console/ingest`: the webhook listener's last hour as a chart, behind the console's login."""

from __future__ import annotations

import re

from gateway.ingest_history import IngestHistory
from gateway.outcome import Outcome
from tests.console.conftest import ADMIN, TOKENS, ConsoleClient
from tests.gateway.test_ingest_history import T0, Clock


async def test_the_chart_of_the_process_s_webhooks(console_client: ConsoleClient) -> None:
    history = IngestHistory(Clock(T0 + 30))
    for outcome in (Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.NO_TYPE):
        history.record(outcome)
    client = await console_client(ingest=history)
    response = await client.get("/console/ingest")
    assert response.status_code == 200
    page = response.text
    assert "<title>Ingest, last hour · clerk-relay</title>" in page
    assert '<a href="/console/ingest">Ingest</a>' in page
    segments = re.findall(r'data-minute="08:00" data-outcome="([a-z_]+)" data-count="(\d+)"', page)
    assert segments == [("accepted", "2"), ("duplicate", "1"), ("no_type", "1")]
    totals = re.findall(r'<tr data-outcome="([a-z_]+)">.*?<td class="count">(\d+)</td>', page)
    assert totals == [("accepted", "2"), ("duplicate", "1"), ("no_type", "1")]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_a_process_without_webhooks_says_where_the_chart_is(
    console_client: ConsoleClient,
) -> None:
    client = await console_client()
    page = (await client.get("/console/ingest")).text
    assert 'id="no-ingest"' in page
    assert "<code>clerk-relay gateway</code> shows its own chart at <code>/</code>" in page
    assert 'id="ingest-chart"' not in page


async def test_the_chart_needs_an_admin(console_client: ConsoleClient) -> None:
    client = await console_client(TOKENS, IngestHistory(Clock(T0)))
    assert (await client.get("/console/ingest")).status_code == 401
    headers = {"authorization": f"Bearer {ADMIN}"}
    assert (await client.get("/console/ingest", headers=headers)).status_code == 200
