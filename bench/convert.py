"""Conversion cost per event, by family, beside `json_format.ParseDict` on the same input.

Run: `python -m bench.convert` (a table), or as part of `python -m bench`. Each
figure is the median of several timed blocks, the two converters interleaved
block by block so that host drift hits both alike. In-process, on the server
CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, message_factory

from bench.context import Context
from bench.cpus import SERVER_CPU
from bench.figures import Row, Section, Target
from bench.payloads import typical_user_created
from bench.procs import pinned
from bench.stats import Figure
from clerkrelay.catalog import payload_case
from clerkrelay.cli.samples import sample, sample_types
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import convert
from tests.gateway.signing import body_of

__all__ = ["TYPICAL", "cases", "measure", "measure_all", "run"]

BLOCKS = 7
TYPICAL = "user.created (typical, 3.4 KB)"


def _time_per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def _parse_dict(envelope: dict[str, Any]) -> Callable[[], object]:
    case = payload_case(envelope["type"])
    assert case is not None
    descriptor = Event.DESCRIPTOR.fields_by_name[case].message_type
    assert descriptor is not None
    message_class = message_factory.GetMessageClass(descriptor)
    data = envelope["data"]
    return lambda: json_format.ParseDict(data, message_class(), ignore_unknown_fields=True)


def measure(
    envelope: dict[str, Any], calls: int, blocks: int = BLOCKS
) -> tuple[list[float], list[float]]:
    """µs per event of each block, for `convert` and for ParseDict, interleaved."""
    body = body_of(envelope)
    ours: list[float] = []
    baseline: list[float] = []
    ours_fn = lambda: convert(envelope, body, "msg_bench")  # noqa: E731
    base_fn = _parse_dict(envelope)
    for _ in range(blocks):
        ours.append(_time_per_call(ours_fn, calls))
        baseline.append(_time_per_call(base_fn, max(calls // 10, 1)))
    return ours, baseline


def cases() -> dict[str, dict[str, Any]]:
    """One envelope per family (the first type of each), plus the typical user."""
    chosen: dict[str, dict[str, Any]] = {TYPICAL: typical_user_created()}
    for event_type in sample_types():
        family = event_type.split(".")[0]
        if not any(name.startswith(family + ".") for name in chosen):
            chosen[event_type] = sample(event_type)
    return chosen


def measure_all(calls: int = 2000, blocks: int = BLOCKS) -> list[Row]:
    """Measures every case; returns one row per case (value: convert, baseline: ParseDict)."""
    rows = []
    for name, envelope in cases().items():
        ours, baseline = measure(envelope, calls, blocks)
        rows.append(
            Row(
                f"convert {name}",
                "µs/event",
                Figure.of(ours),
                Figure.of(baseline),
                "ParseDict",
                Figure.of([o / b for o, b in zip(ours, baseline, strict=True)]),
                Target("value", "<=", 50.0, "≤ 50 µs") if name == TYPICAL else None,
            )
        )
    return rows


def run(ctx: Context) -> Section:
    """The conversion figures, measured in this process on the server CPU."""
    section = Section("convert", "Conversion: µs per event by family, beside ParseDict")
    with pinned(SERVER_CPU):
        section.rows = measure_all(
            calls=int(ctx.pick(2000, 50)), blocks=max(BLOCKS if not ctx.quick else 3, ctx.runs)
        )
    section.notes.append(
        f"each figure: the median [min–max] of {section.rows[0].value.runs} timed blocks "
        "(ParseDict with a tenth of the calls), the two converters interleaved block by block; "
        "ratio = convert ÷ ParseDict (lower is better)"
    )
    return section


def main() -> None:
    """Prints the table."""
    print("| event | convert µs | ParseDict µs | ParseDict / convert |")
    print("|---|---|---|---|")
    for row in measure_all():
        assert row.baseline is not None
        print(
            f"| {row.figure.removeprefix('convert ')} | {row.value} | {row.baseline} | "
            f"{row.baseline.median / row.value.median:.1f}× |"
        )


if __name__ == "__main__":
    main()
