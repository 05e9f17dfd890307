"""`python -m bench` (`make bench`): every benchmark in one go, then the results files.

    python -m bench                   # everything (7–10 minutes on 2 cores)
    python -m bench --quick           # a smoke run: tiny sizes, one run each
    python -m bench --only ingest,fanout
    python -m bench --out /tmp/bench  # write the results elsewhere

Families, in the order they run: convert, store, ingest, profile, latency,
memory, replay, backfill, consumers, fanout. A family that fails is reported (and the exit
status is 1), the others still run. `results.md` and `results.json` go to `bench/` by
default; the profile files to `bench/profiles/` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    backfill,
    consumers,
    convert,
    fanout,
    ingest,
    latency,
    memory,
    profile,
    replay,
    store,
)
from bench.context import POSTGRES_URL, Context, postgres_reason
from bench.cpus import LOAD_CPU, pin_self
from bench.figures import Section
from bench.machine import HostLoad, describe
from bench.report import Report, write

# Fan-out runs last: for a minute or two after its 1,000 busy streams, loopback
# requests on this host stall for 200–350 ms (receivers advertise zero windows,
# nothing is retransmitted: socket memory pressure, it seems), which a latency
# or replay figure measured after it would report as the relay's own.
FAMILIES: dict[str, Callable[[Context, Path], Section]] = {
    "convert": lambda ctx, out: convert.run(ctx),
    "store": lambda ctx, out: store.run(ctx),
    "ingest": lambda ctx, out: ingest.run(ctx),
    "profile": lambda ctx, out: profile.run(ctx, out / "profiles"),
    "latency": lambda ctx, out: latency.run(ctx),
    "memory": lambda ctx, out: memory.run(ctx),
    "replay": lambda ctx, out: replay.run(ctx),
    "backfill": lambda ctx, out: backfill.run(ctx),
    "consumers": lambda ctx, out: consumers.run(ctx),
    "fanout": lambda ctx, out: fanout.run(ctx),
}

BUDGET_S = 600


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated families ({', '.join(FAMILIES)})"
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CLERK_RELAY_BENCH_POSTGRES_URL", POSTGRES_URL),
        help="the PostgreSQL database the benchmark may create schemas in "
        f"(default {POSTGRES_URL}) [CLERK_RELAY_BENCH_POSTGRES_URL]",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="where results.md, results.json and profiles/ go (default: bench/)",
    )
    return parser


def _run_family(ctx: Context, name: str, out: Path) -> tuple[Section, str]:
    """Runs one family; returns its section and the error that ended it ("" if none).

    PostgreSQL on a shared development machine may be restarted by someone else's
    test suite; a family that fails while it is away is run again, once, after
    it is back.
    """
    for attempt in (1, 2):
        ctx.log(f"{name}: starting" + (" again" if attempt > 1 else ""))
        try:
            section = FAMILIES[name](ctx, out)
        except Exception as error:
            traceback.print_exc()
            message = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
            postgres_away = (
                ctx.postgres_url is not None and postgres_reason(ctx.postgres_url) is not None
            )
            if attempt == 1 and (
                postgres_away or "PostgreSQL" in str(error) or "5432" in str(error)
            ):
                ctx.log(f"{name}: failed while PostgreSQL was away; waiting for it to retry")
                if ctx.wait_for_postgres(120):
                    continue
            ctx.log(f"{name}: failed")
            return Section(name, name), message
        ctx.log(f"{name}: done")
        return section, ""
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    """Runs the selected benchmarks and writes the results; returns the exit status."""
    args = _parser().parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()] or list(FAMILIES)
    unknown = [name for name in selected if name not in FAMILIES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
        return 2
    runs = args.runs or (1 if args.quick else 3)
    # SIGTERM unwinds like Ctrl-C, so every server and worker started so far is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    pin_self(LOAD_CPU)
    reason = postgres_reason(args.postgres_url)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    host = HostLoad()
    sections: list[Section] = []
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="clerk-relay-bench-") as scratch:
        ctx = Context(
            quick=args.quick,
            runs=runs,
            workdir=Path(scratch),
            postgres_url=None if reason else args.postgres_url,
            postgres_missing=reason or "",
        )
        if reason:
            ctx.log(f"PostgreSQL figures are skipped: {reason}")
        for name in (name for name in FAMILIES if name in selected):
            section, error = _run_family(ctx, name, args.out)
            sections.append(section)
            if error:
                failed[name] = error
        ctx.drop_leftover_schemas()
        machine = describe(ctx.postgres_url) | {"host_load": host.describe()}
    seconds = time.monotonic() - started
    report = Report(sections, machine, started_at, seconds, args.quick, failed)
    markdown, data = write(report, args.out)
    print(markdown.read_text())
    print(f"wrote {markdown} and {data} in {seconds:.0f} s", file=sys.stderr)
    if not args.quick and not args.only and seconds > BUDGET_S:
        print(f"warning: the run took longer than {BUDGET_S} s", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
