"""The Backend API double as a process of its own, for the backfill benchmark.

    python -m bench.backfill_double USERS

Makes USERS users (Clerk's example user, each with its own id and times),
serves them on 127.0.0.1 (port 0, no bodies kept in the exchange log), prints
`ready <base URL>` on standard output, and serves until its standard input
closes. Its CPU time is the double's serving cost, reported beside the
backfill rate.
"""

from __future__ import annotations

import sys

from tests.reconcile.backend_double import BackendDouble

__all__ = ["BENCH_KEY", "main"]

BENCH_KEY = "sk_live_" + "BenchDoubleKey0123456789abcdefghijklmnop"
"""A production-shaped key: its budget (1,000 requests per 10 s) is not what limits a backfill."""


def main(argv: list[str]) -> int:
    """Serves the users until standard input closes."""
    users = int(argv[0])
    double = BackendDouble(BENCH_KEY, record_bodies=False)
    double.add("user", users)
    with double.serve() as url:
        print(f"ready {url}", flush=True)
        sys.stdin.read()  # until the benchmark closes it
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
