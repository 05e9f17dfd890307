"""The console's HTML: every page and fragment, rendered from `console.reads` values.

Everything shown is escaped here (`_t` for text and attribute values, `_u`
for a path segment): an event's contents are whatever the sender put in
them, so a `first_name` of `<script>` is shown as those characters. The pages
load no script but `/console/console.js` and no style but
`/console/console.css`, and the responses forbid any other
(`console.app`'s Content-Security-Policy).
"""

from __future__ import annotations

import html
import time
from urllib.parse import quote, urlencode

from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupMember,
    ConsumerGroupOrdering,
)
from console.reads import EntityView, EventDetail, EventRow, LogQuery
from gateway.ingest_chart import ingest_section
from gateway.ingest_history import Minute
from service.subscribers import StreamStats, Subscribers

__all__ = [
    "entity_page",
    "error_page",
    "event_page",
    "event_rows",
    "ingest_console_page",
    "log_page",
    "login_page",
    "subscribers_page",
]


def _t(value: object) -> str:
    """Text or an attribute value, escaped."""
    return html.escape(str(value), quote=True)


def _u(value: str) -> str:
    """A path segment, percent-encoded (then escaped where it goes into HTML)."""
    return quote(value, safe="")


def _age(ns: int, now_ns: int) -> str:
    seconds = max(0, (now_ns - ns) // 1_000_000_000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _iso(ns: int) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9))
        + f".{ns // 1_000_000 % 1000:03d}Z"
    )


def _layout(title: str, body: str, *, signed_in: bool) -> str:
    logout = (
        '<form method="post" action="/console/logout" class="logout">'
        '<button type="submit">Log out</button></form>'
        if signed_in
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_t(title)} · clerk-relay</title>"
        '<link rel="stylesheet" href="/console/console.css">'
        '<script src="/console/console.js" defer></script></head><body>'
        '<nav><a href="/console/">Event log</a> <a href="/console/subscribers">Subscribers</a>'
        ' <a href="/console/ingest">Ingest</a>'
        f"{logout}</nav><main><h1>{_t(title)}</h1>{body}</main></body></html>\n"
    )


def event_rows(rows: list[EventRow], now_ns: int) -> str:
    """`<tr>` elements of the log table, one per event, in the order given."""
    out = []
    for row in rows:
        entity = (
            f'<a href="/console/entities/{_t(_u(row.entity_kind))}/{_t(_u(row.entity_id))}">'
            f"{_t(row.entity_id)}</a>"
            if row.entity_id
            else "-"
        )
        stale = ' <span class="stale">stale</span>' if row.stale else ""
        out.append(
            f'<tr data-sequence="{row.sequence}">'
            f'<td><a href="/console/events/{row.sequence}">{row.sequence}</a></td>'
            f'<td class="type">{_t(row.type)}{stale}</td>'
            f'<td class="entity">{entity}</td>'
            f"<td>{_t(row.origin)}</td>"
            f'<td><time datetime="{_iso(row.receive_time_ns)}">'
            f"{_age(row.receive_time_ns, now_ns)}</time></td>"
            f'<td class="svix">{_t(row.svix_id)}</td></tr>'
        )
    return "".join(out)


def log_page(query: LogQuery, rows: list[EventRow], head: int, *, signed_in: bool) -> str:
    """The live event log with its filter form."""
    since = query.since.strftime("%Y-%m-%dT%H:%M:%S") if query.since else ""
    params = {
        "type": ",".join(query.types),
        "entity": query.entity_id,
        "svix_id": query.svix_id,
        "since": since,
    }
    live_query = urlencode({k: v for k, v in params.items() if v})
    form = (
        '<form method="get" action="/console/" class="filters">'
        f'<label>Type <input name="type" value="{_t(params["type"])}" placeholder="user.*"></label>'
        f'<label>Entity id <input name="entity" value="{_t(query.entity_id)}"></label>'
        f'<label>svix-id <input name="svix_id" value="{_t(query.svix_id)}"></label>'
        f'<label>Since (UTC) <input name="since" value="{_t(since)}" '
        'placeholder="2026-12-02T14:00:00"></label>'
        '<button type="submit">Filter</button> <a href="/console/">Clear</a></form>'
    )
    table = (
        f'<table id="log" data-after="{head}" data-query="{_t(live_query)}">'
        "<thead><tr><th>#</th><th>Type</th><th>Entity</th><th>Origin</th><th>Age</th>"
        "<th>svix-id</th></tr></thead>"
        f'<tbody id="log-rows">{event_rows(rows, time.time_ns())}</tbody></table>'
        f'<p class="note">Head: sequence <span id="head">{head}</span>. New events appear '
        "at the top as they are stored.</p>"
    )
    return _layout("Event log", form + table, signed_in=signed_in)


def event_page(detail: EventDetail, *, signed_in: bool) -> str:
    """One event: envelope, typed view, raw JSON, drift and omission."""
    event, row = detail.event, detail.row
    timestamp = str(event.timestamp) if event.HasField("timestamp") else "-"
    facts = [
        ("Sequence", str(event.sequence)),
        ("svix-id", event.id),
        ("Type", event.type),
        ("Origin", row.origin + (f" ({event.reconcile_pass})" if event.reconcile_pass else "")),
        ("Received", _iso(row.receive_time_ns)),
        ("Timestamp (ms)", timestamp),
        ("Stale", "yes" if event.stale else "no"),
        ("Typed view withheld", detail.omission or "no"),
        ("Drift (untyped fields)", ", ".join(detail.drift) or "none"),
    ]
    rows = "".join(f"<tr><th>{_t(k)}</th><td>{_t(v)}</td></tr>" for k, v in facts)
    entity = (
        f'<p><a href="/console/entities/{_t(_u(row.entity_kind))}/{_t(_u(row.entity_id))}">'
        f"Everything about {_t(row.entity_id)}</a></p>"
        if row.entity_id
        else ""
    )
    typed = (
        f'<pre id="typed">{_t(detail.typed_json)}</pre>'
        if detail.typed_json
        else '<p id="typed">No typed view'
        + (
            f": {_t(detail.omission)}"
            if detail.omission
            else " (a type the contract does not know)"
        )
        + "</p>"
    )
    body = (
        f'<table class="facts">{rows}</table>{entity}'
        f"<h2>Typed view</h2>{typed}"
        f'<h2>Raw JSON <a href="/console/events/{event.sequence}/raw">(download)</a></h2>'
        f'<pre id="raw">{_t(detail.raw)}</pre>'
    )
    return _layout(f"Event {event.sequence}: {event.type}", body, signed_in=signed_in)


def entity_page(view: EntityView, *, signed_in: bool) -> str:
    """One entity: the mirror's state, then every event about it in order."""
    record = view.record
    if view.kind == "any":
        state = "<p>Events about this id, whatever their type.</p>"
    elif record is None:
        state = '<p id="state">The mirror has never seen it.</p>'
    else:
        status = "deleted" if record.deleted else "current"
        state = (
            f'<p>State ({status}) as of event <a href="/console/events/{record.event_sequence}">'
            f"{record.event_sequence}</a>:</p>"
            f'<pre id="state">{_t(view.state_json)}</pre>'
        )
    rows = event_rows(view.rows, time.time_ns())
    more = ""
    if view.history.next_page_token:
        token = urlencode({"page_token": view.history.next_page_token})
        more = f'<p><a href="?{_t(token)}">Later events</a></p>'
    body = (
        f"{state}<h2>History (oldest first)</h2>"
        '<table id="history"><thead><tr><th>#</th><th>Type</th><th>Entity</th><th>Origin</th>'
        f"<th>Age</th><th>svix-id</th></tr></thead><tbody>{rows}</tbody></table>{more}"
    )
    return _layout(f"{view.kind} {view.id}", body, signed_in=signed_in)


def subscribers_page(
    subscribers: Subscribers, groups: list[ConsumerGroup] | None = None, *, signed_in: bool
) -> str:
    """Every open Subscribe stream of this process, and the consumer groups (refreshes itself)."""
    now = time.time_ns()
    streams: list[StreamStats] = subscribers.streams()
    rows = "".join(
        f'<tr data-stream="{s.id}"><td>{s.id}</td><td class="filter">{_t(s.filter_text())}</td>'
        f"<td>{_t(s.peer)}</td><td>{_age(s.opened_ns, now)}</td>"
        f'<td class="position">{s.position}</td><td class="lag">{subscribers.lag(s)}</td>'
        f'<td class="fell-behind">{s.fell_behind}</td><td>{s.bytes_sent}</td></tr>'
        for s in streams
    )
    body = (
        f'<p>Head: sequence <span id="head">{subscribers.head}</span>. '
        f"{len(streams)} stream{'s' if len(streams) != 1 else ''} open in this process.</p>"
        '<table id="subscribers" data-refresh="2"><thead><tr><th>#</th><th>Filter</th>'
        "<th>Peer</th><th>Opened</th><th>Position</th><th>Lag (events)</th><th>Fell behind</th>"
        f"<th>Bytes sent</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{_consumer_groups(groups)}"
    )
    return _layout("Subscribers", body, signed_in=signed_in)


def _consumer_groups(groups: list[ConsumerGroup] | None) -> str:
    """The consumer groups' table (every group in the store; members of this process)."""
    if groups is None:
        return ""
    rows = "".join(
        f'<tr data-group="{_t(g.name)}"><td>{_t(g.name)}</td>'
        f'<td class="filter">{_t(", ".join(g.settings.event_types) or "*")}</td>'
        f"<td>{_t(_ordering(g.settings.ordering))}</td>"
        f'<td class="position">{g.position}</td><td class="lag">{g.lag}</td>'
        f'<td class="in-flight">{g.in_flight_count}</td><td class="parked">{g.parked_count}</td>'
        f"<td>{g.redelivered_count}</td><td>{g.acked_count}</td>"
        f'<td class="members">{_t(", ".join(_member(m) for m in g.members) or "none here")}</td>'
        "</tr>"
        for g in groups
    )
    return (
        f"<h2>Consumer groups</h2><p>{len(groups)} group{'s' if len(groups) != 1 else ''}; "
        "members are those connected to this process.</p>"
        '<table id="consumer-groups"><thead><tr><th>Group</th><th>Types</th><th>Ordering</th>'
        "<th>Position</th><th>Lag (events)</th><th>In flight</th><th>Parked</th>"
        f"<th>Redelivered</th><th>Acked</th><th>Members</th></tr></thead><tbody>{rows}</tbody>"
        "</table>"
    )


def _ordering(value: int) -> str:
    name = ConsumerGroupOrdering.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("CONSUMER_GROUP_ORDERING_").lower().replace("unspecified", "none")


def _member(member: ConsumerGroupMember) -> str:
    name = member.member_name or member.member_id
    return f"{name} ({member.address}, {member.in_flight} in flight)"


def ingest_console_page(minutes: list[Minute] | None, *, signed_in: bool) -> str:
    """The last hour's ingest chart, or why this process has none (the page refreshes itself)."""
    if minutes is None:
        body = (
            '<p class="note" id="no-ingest">This process receives no webhooks: each '
            "<code>clerk-relay gateway</code> shows its own chart at <code>/</code> on its "
            "operations listener.</p>"
        )
    else:
        body = ingest_section(minutes)
    return _layout("Ingest, last hour", body, signed_in=signed_in)


def login_page(message: str = "") -> str:
    """The form that trades an admin token for a session cookie."""
    note = f'<p class="error">{_t(message)}</p>' if message else ""
    body = (
        f"{note}<p>The console needs an admin token (one of the relay's admin tokens).</p>"
        '<form method="post" action="/console/login">'
        '<label>Admin token <input type="password" name="token" autocomplete="off"></label>'
        '<button type="submit">Log in</button></form>'
    )
    return _layout("Log in", body, signed_in=False)


def error_page(title: str, message: str, *, signed_in: bool) -> str:
    """A page that says what went wrong."""
    return _layout(title, f'<p class="error">{_t(message)}</p>', signed_in=signed_in)
