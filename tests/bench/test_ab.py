"""`python -m bench.ab`: the order of each round, the summary, and a short run against HEAD."""

from __future__ import annotations

import subprocess
import sys

from bench.ab import Side, order, p99_ms, summary
from bench.workers import PhaseResult
from tests.processes import ROOT, RelayProcess


def test_the_order_flips_every_round() -> None:
    assert [order(r) for r in range(4)] == [(0, 1), (1, 0), (0, 1), (1, 0)]


def side(name: str, cpu: list[float], p99: list[float]) -> Side:
    """A side whose phases each answered 10,000 webhooks in a second (a core: 100 µs each)."""
    results = [
        PhaseResult(
            result={"requests": 10_000, "seconds": 1.0, "latency_ms": {"p99": p}},
            server_cpu=cores,
            disk_stalls_ms=[],
            write_bytes=0,
        )
        for cores, p in zip(cpu, p99, strict=True)
    ]
    return Side(name, RelayProcess("clerk-relay", [], {}, ROOT / "relay.log"), results)


def test_summary_gives_both_medians_and_the_differences_pair_by_pair() -> None:
    base = side("HEAD~1", [2.0, 2.1, 1.9], [3.5, 4.25, 4.0])
    tree = side("this tree", [1.9, 2.15, 1.7], [3.0, 4.5, 4.0])
    cpu = summary("relay CPU per webhook", "µs", 0, base, tree, lambda r: r.cpu_us_per_request)
    assert cpu == (
        "relay CPU per webhook: HEAD~1 200 [190–210] µs, this tree 190 [170–215]; "
        "this tree minus HEAD~1, pair by pair, -10 [-20–5]; this tree lower in 2 of 3 pairs"
    )
    assert summary("HTTP answer p99", "ms", 2, base, tree, p99_ms) == (
        "HTTP answer p99: HEAD~1 4.00 [3.50–4.25] ms, this tree 4.00 [3.00–4.50]; "
        "this tree minus HEAD~1, pair by pair, 0.00 [-0.50–0.25]; this tree lower in 1 of 3 pairs"
    )


def worktrees() -> list[str]:
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listing.splitlines() if line.startswith("worktree ")]


def test_a_short_run_against_head_reports_both_figures_and_removes_its_worktree() -> None:
    before = worktrees()
    done = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--base", "HEAD", "--rounds", "2"]
        + ["--seconds", "0.5", "--warmup", "0.2", "--rate", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2 rounds, the order flipped every round"
    assert lines[1].startswith("relay CPU per webhook: HEAD ")
    assert lines[2].startswith("HTTP answer p99: HEAD ")
    assert all(line.endswith(" of 2 pairs") for line in lines[1:])
    rounds = [line.split(":")[0] for line in done.stderr.splitlines() if line.startswith("round")]
    assert rounds == ["round 1 HEAD", "round 1 this tree", "round 2 this tree", "round 2 HEAD"]
    assert worktrees() == before
