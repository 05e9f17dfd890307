"""`python -m bench.ab`: this checkout's relay against another commit's, in alternating pairs.

On a host whose speed drifts by a third within minutes, figures from separate
runs do not compare; nor do two relays measured one after the other in a fixed
order: on such a host (2026-12-03, eight closed-loop pairs each way) the second
of each pair came out slower more often than not, whichever it was. So each
round runs one phase against each relay, the order flipped every round, and the
report gives every pair's difference beside the medians.

    python -m bench.ab --base HEAD~1                          # closed loop
    python -m bench.ab --base main --rate 500 --streams 10    # paced, with live streams
    python -m bench.ab --base HEAD~1 --log-level info --rounds 8
    python -m bench.ab --base HEAD~3 --tree HEAD~1 --rate 500 # two commits, to bisect

The base commit (and `--tree`'s) is checked out into a temporary git worktree,
removed after. Both relays run on SQLite, pinned to the server CPU; the load generator and
the subscribers run on the load CPU, as in `make bench`. The figures are the
relay's CPU per webhook and the webhooks answered per second (closed loop), or
the CPU per webhook and the HTTP answer's p99 (paced).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import Context
from bench.cpus import LOAD_CPU, pin_self
from bench.ingest import closed_loop_count
from bench.loadgen import PhaseSpec
from bench.procs import started_relay, wait_idle
from bench.stats import Figure
from bench.workers import PhaseResult, load_generator, run_phase, subscribers
from tests.processes import ROOT, RelayProcess

__all__ = ["Side", "main", "order", "p99_ms", "summary"]


@dataclass
class Side:
    """One relay under comparison and its phases, round by round."""

    name: str
    relay: RelayProcess
    results: list[PhaseResult] = field(default_factory=list)


def order(round_: int) -> tuple[int, int]:
    """Which side goes first in a round (0, the base, in even rounds) and which second."""
    return (0, 1) if round_ % 2 == 0 else (1, 0)


def summary(
    label: str,
    unit: str,
    decimals: int,
    base: Side,
    tree: Side,
    figure: Callable[[PhaseResult], float],
) -> str:
    """One figure of both sides: their medians, and the differences pair by pair.

    Args:
        label: What the figure is.
        unit: Its unit.
        decimals: How many decimals to show.
        base: The side compared with.
        tree: The side compared, whose results are in the same rounds.
        figure: The figure of one phase's result.
    """
    before = [figure(r) for r in base.results]
    after = [figure(r) for r in tree.results]
    differences = [t - b for b, t in zip(before, after, strict=True)]
    lower = sum(1 for d in differences if d < 0)
    return (
        f"{label}: {base.name} {Figure.of(before).fmt(decimals)} {unit}, {tree.name} "
        f"{Figure.of(after).fmt(decimals)}; {tree.name} minus {base.name}, pair by pair, "
        f"{Figure.of(differences).fmt(decimals)}; {tree.name} lower in {lower} of "
        f"{len(differences)} pairs"
    )


def p99_ms(result: PhaseResult) -> float:
    """The HTTP answer's p99 in a phase, in ms."""
    return float(result.result["latency_ms"]["p99"])


@contextlib.contextmanager
def _worktree(ref: str) -> Iterator[Path]:
    """A detached worktree of `ref` in a temporary directory, removed after."""
    with tempfile.TemporaryDirectory(prefix="clerk-relay-ab-") as scratch:
        path = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(path), ref],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (any git ref)")
    parser.add_argument(
        "--tree", help="a commit to run instead of this checkout (any git ref; to bisect)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="pairs of phases (default 6)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each timed window")
    parser.add_argument("--warmup", type=float, default=1.0, help="load before each window")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="webhooks/s, paced (default: a closed loop)"
    )
    parser.add_argument("--streams", type=int, default=0, help="live Subscribe streams per relay")
    parser.add_argument("--log-level", default="warning", help="both relays' log level")
    return parser


def _spec(args: argparse.Namespace, side: Side) -> PhaseSpec:
    assert side.relay.http_port is not None
    port = side.relay.http_port
    window = args.warmup + args.seconds
    if args.rate:
        count = int(args.rate * window) + 100
        return PhaseSpec(
            port=port,
            mode="paced",
            rate=args.rate,
            warmup_s=args.warmup,
            duration_s=args.seconds,
            count=count,
        )
    return PhaseSpec(
        port=port,
        warmup_s=args.warmup,
        duration_s=args.seconds,
        count=closed_loop_count(side.results, window),
    )


def main(argv: list[str] | None = None) -> int:
    """Runs the rounds and prints each phase and the summary; returns the exit status."""
    args = _parser().parse_args(argv)
    pin_self(LOAD_CPU)
    with contextlib.ExitStack() as stack:
        base_tree = stack.enter_context(_worktree(args.base))
        tree_source = stack.enter_context(_worktree(args.tree)) if args.tree else None
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clerk-relay-ab-")))
        ctx = Context(quick=False, runs=args.rounds, workdir=scratch)
        sides = []
        for name, source in ((args.base, base_tree), (args.tree or "this tree", tree_source)):
            workdir = ctx.scratch("relay")
            relay = stack.enter_context(
                started_relay(workdir, None, "--log-level", args.log_level, source=source)
            )
            if args.streams:
                assert relay.grpc_port is not None
                subs = stack.enter_context(subscribers(ctx, relay.grpc_target))
                subs.request({"cmd": "open", "streams": args.streams, "mode": "ids"}, "opened", 60)
            sides.append(Side(name, relay))
        generator = stack.enter_context(load_generator(ctx))
        for round_ in range(args.rounds):
            for index in order(round_):
                side = sides[index]
                assert side.relay.process is not None
                pid = side.relay.process.pid
                wait_idle(pid)
                result = run_phase(generator, _spec(args, side), pid)
                side.results.append(result)
                print(
                    f"round {round_ + 1} {side.name}: {result.rate:,.0f} webhooks/s, "
                    f"{result.cpu_us_per_request:,.0f} µs of CPU per webhook, HTTP p99 "
                    f"{p99_ms(result):.2f} ms",
                    file=sys.stderr,
                )
    base, tree = sides
    failures = sum(r.failures for side in sides for r in side.results)
    print(f"{args.rounds} rounds, the order flipped every round")
    print(summary("relay CPU per webhook", "µs", 0, base, tree, lambda r: r.cpu_us_per_request))
    if args.rate:
        print(summary("HTTP answer p99", "ms", 2, base, tree, p99_ms))
    else:
        print(summary("webhooks answered", "/s", 0, base, tree, lambda r: r.rate))
    if failures:  # the figures would not be of the same work
        print(f"{failures} requests got no fresh 2xx answer", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
