"""Conversion cost per event, by family, beside `json_format.ParseDict` on the same input.

Run: `python -m bench.convert`. Each figure is the median of several timed blocks, the
two converters interleaved block by block so that host drift hits both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format, message_factory

from bench.payloads import body_of, typical_user_created
from bench.stats import Figure
from clerkrelay.catalog import payload_case
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import convert
from gateway.samples import sample, sample_types

BLOCKS = 7


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


def measure(envelope: dict[str, Any], calls: int) -> tuple[Figure, Figure]:
    """µs per event for `convert` and for ParseDict, interleaved."""
    body = body_of(envelope)
    ours: list[float] = []
    baseline: list[float] = []
    ours_fn = lambda: convert(envelope, body, "msg_bench")  # noqa: E731
    base_fn = _parse_dict(envelope)
    for _ in range(BLOCKS):
        ours.append(_time_per_call(ours_fn, calls))
        baseline.append(_time_per_call(base_fn, max(calls // 10, 1)))
    return Figure.of(ours), Figure.of(baseline)


def cases() -> dict[str, dict[str, Any]]:
    """One envelope per family (the first type of each), plus the typical user."""
    chosen: dict[str, dict[str, Any]] = {"user.created (typical, 3.4 KB)": typical_user_created()}
    for event_type in sample_types():
        family = event_type.split(".")[0]
        if not any(name.startswith(family + ".") for name in chosen):
            chosen[event_type] = sample(event_type)
    return chosen


def run(calls: int = 2000) -> list[dict[str, Any]]:
    """Measures every case; returns one row per case."""
    rows = []
    for name, envelope in cases().items():
        ours, baseline = measure(envelope, calls)
        rows.append(
            {
                "case": name,
                "convert_us": ours,
                "parsedict_us": baseline,
                "ratio": baseline.median / ours.median,
            }
        )
    return rows


def main() -> None:
    """Prints the table."""
    print("| event | convert µs | ParseDict µs | ParseDict / convert |")
    print("|---|---|---|---|")
    for row in run():
        print(
            f"| {row['case']} | {row['convert_us']} | {row['parsedict_us']} | {row['ratio']:.1f}× |"
        )


if __name__ == "__main__":
    main()
