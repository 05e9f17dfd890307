"""`trigger --id` and `--set PATH=VALUE`: shape the sample webhook before it is signed.

`--set` takes a dotted path into the envelope (`data.first_name`,
`data.email_addresses.0.email_address`, `data.public_metadata.plan`) and a
value. The value is read as JSON when it is JSON (`42`, `true`, `null`,
`{"plan":"pro"}`, `"42"` for the string), else taken as a string (`Ada`), as
Stripe's `trigger --override` does. Objects on the way are created when
missing; a list index must exist. `--id` is a shorthand for `--set data.id=…`
that also keeps the id as given, with no JSON reading.

Overrides apply after the sample is made fresh (new `data.id`, current time),
so `--set data.updated_at=…` wins over the current time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from clerkrelay.cli.cli_error import CliError

__all__ = ["Override", "apply_overrides", "parse_override"]


@dataclass(frozen=True, slots=True)
class Override:
    """One `--set`: where in the envelope, and the value to put there."""

    path: tuple[str, ...]
    value: Any


def parse_override(text: str) -> Override:
    """Parses `PATH=VALUE` (argparse's `type=` for `--set`).

    Raises:
        argparse.ArgumentTypeError: No `=`, or an empty path segment.
    """
    path_text, equals, value_text = text.partition("=")
    path = tuple(path_text.strip().split("."))
    if not equals or any(not part for part in path):
        raise argparse.ArgumentTypeError(
            f"takes PATH=VALUE with a dotted path, e.g. data.first_name=Ada (got {text!r})"
        )
    try:
        value: Any = orjson.loads(value_text)
    except orjson.JSONDecodeError:
        value = value_text
    return Override(path, value)


def apply_overrides(envelope: dict[str, Any], overrides: Sequence[Override]) -> None:
    """Sets each override's value in `envelope`, in order.

    Raises:
        CliError: A path goes through a value that is neither an object nor a
            list, or names a list index that does not exist.
    """
    for override in overrides:
        _set(envelope, override)


def _set(envelope: dict[str, Any], override: Override) -> None:
    node: Any = envelope
    *parents, last = override.path
    for depth, key in enumerate(parents):
        child = _child(node, key, override, depth)
        if child is None and isinstance(node, dict):
            child = node[key] = {}
        node = child
    if isinstance(node, dict):
        node[last] = override.value
    elif isinstance(node, list):
        node[_index(node, last, override, len(parents))] = override.value
    else:
        raise _bad_path(override, len(parents), "is not an object or a list")


def _child(node: Any, key: str, override: Override, depth: int) -> Any:
    if isinstance(node, dict):
        child = node.get(key)
        if child is not None and not isinstance(child, dict | list):
            raise _bad_path(override, depth + 1, "is not an object or a list")
        return child
    if isinstance(node, list):
        return node[_index(node, key, override, depth)]
    raise _bad_path(override, depth, "is not an object or a list")


def _index(node: list[Any], key: str, override: Override, depth: int) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise CliError(
            f"--set {'.'.join(override.path)}: {'.'.join(override.path[:depth]) or 'the envelope'} "
            f"is a list of {len(node)}, so {key!r} is not an index in it"
        )
    return int(key)


def _bad_path(override: Override, depth: int, what: str) -> CliError:
    where = ".".join(override.path[:depth]) or "the envelope"
    return CliError(f"--set {'.'.join(override.path)}: {where} {what}")
