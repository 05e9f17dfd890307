"""Memory: RSS of `clerk-relay serve` with 0, 100 and 1,000 idle subscribers.

Each run starts a fresh `serve` (SQLite, empty log) and reads its resident set
size once it is ready, then after a subscriber process on the load CPU has
opened 100 live streams (each on its own connection, as separate services
would) and received `caught_up` on each, then after 900 more. Per idle
subscriber: (RSS at 1,000 − RSS at 0) ÷ 1,000, which charges the first
subscriber's one-time costs to the rest too; the marginal cost between 100 and
1,000 is in the notes.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.figures import Row, Section, Target
from bench.procs import rss_kib, started_relay
from bench.stats import Figure
from bench.workers import subscribers

__all__ = ["COUNTS", "run"]

COUNTS = (100, 1000)
_SETTLE_S = 1.0


def run(ctx: Context) -> Section:
    """Measures RSS at each subscriber count."""
    section = Section("memory", "Memory: the serve process with idle subscribers")
    counts = COUNTS if not ctx.quick else (10, 50)
    rss: dict[int, list[float]] = {0: [], **{k: [] for k in counts}}
    for run_ in range(ctx.runs):
        with started_relay(ctx.scratch("memory")) as relay:
            assert relay.process is not None
            pid = relay.process.pid
            time.sleep(_SETTLE_S)
            rss[0].append(rss_kib(pid))
            with subscribers(ctx, relay.grpc_target) as subs:
                opened = 0
                for count in counts:
                    subs.request(
                        {"cmd": "open", "streams": count - opened, "timeout_s": 120}, "opened", 180
                    )
                    opened = count
                    time.sleep(_SETTLE_S)
                    rss[count].append(rss_kib(pid))
        ctx.log(
            f"memory run {run_ + 1}: "
            + ", ".join(f"{k} subscribers {values[-1] / 1024:.1f} MiB" for k, values in rss.items())
        )
    for count, values in rss.items():
        section.rows.append(
            Row(
                f"serve RSS with {count:,} idle subscribers",
                "MiB",
                Figure.of([v / 1024 for v in values]),
            )
        )
    top = counts[-1]
    per = [(high - low) / top for high, low in zip(rss[top], rss[0], strict=True)]
    marginal = [
        (high - low) / (top - counts[0]) for high, low in zip(rss[top], rss[counts[0]], strict=True)
    ]
    section.rows.append(
        Row(
            f"memory per idle subscriber (0 → {top:,})",
            "KiB",
            Figure.of(per),
            target=Target("value", "<=", 50.0, "≤ 50 KB"),
        )
    )
    section.notes.append(
        f"marginal memory per idle subscriber ({counts[0]:,} → {top:,}): "
        f"{Figure.of(marginal).fmt(1)} KiB; each subscriber has its own TCP connection"
    )
    return section
