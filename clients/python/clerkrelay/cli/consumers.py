"""`clerk-relay consumers …`: see and manage a running relay's consumer groups.

`list` prints one line per group; `info NAME` a group's settings, figures,
its ack and delivery rates (two readings `--rate-window` seconds apart) and
the members connected to the relay process that answered; `create NAME`
makes a group (`--event-types`, `--from-beginning`, `--ack-wait`,
`--ordering per_entity`, …); `update NAME` replaces its settings; `parked
NAME` prints its parked events, one JSON object a line; `replay-parked NAME`
and `discard-parked NAME` act on them (all, or `--sequences`); `delete NAME`
removes the group. Managing groups needs an admin token when the relay's
auth is on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Mapping
from datetime import datetime

from clerkrelay import PermissionDeniedError, RelayClient, RelayError, group_settings
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import add_client_flags, cli_error, relay_client, run_async
from clerkrelay.v1.consumer_service_pb2 import (
    ConsumerGroup,
    ConsumerGroupOrdering,
    ConsumerGroupSettings,
)

__all__ = ["add_parser", "group_lines", "rate_lines", "run"]

_ORDERING_NAMES = {
    ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_NONE: "none",
    ConsumerGroupOrdering.CONSUMER_GROUP_ORDERING_PER_ENTITY: "per_entity",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `consumers` and its actions to the command parser."""
    parser = commands.add_parser(
        "consumers",
        help="see and manage a running relay's consumer groups",
        description="See and manage the durable consumer groups of a running relay (an "
        "admin token is needed when its auth is on).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_client_flags(actions.add_parser("list", help="every group, one line each"))
    info = _named(actions, "info", "a group's settings, figures, rates and members")
    info.add_argument(
        "--rate-window",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="read the group twice this far apart for its ack and delivery rates "
        "(default 1; 0: no rates)",
    )
    _named(actions, "delete", "delete a group with its in-flight and parked events")
    for action, text in (
        ("create", "create a group"),
        ("update", "replace a group's settings (its start is kept)"),
    ):
        _settings_flags(_named(actions, action, text))
    parked = _named(actions, "parked", "a group's parked events, one JSON object a line")
    parked.add_argument("--limit", type=int, default=None, help="at most this many")
    for action, text in (
        ("replay-parked", "deliver parked events again"),
        ("discard-parked", "remove parked events for good"),
    ):
        _named(actions, action, text).add_argument(
            "--sequences", default="", help="comma-separated sequences (default: every one)"
        )


def _named(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], action: str, text: str
) -> argparse.ArgumentParser:
    parser = actions.add_parser(action, help=text, description=text)
    parser.add_argument("name", metavar="NAME", help="the group's name")
    add_client_flags(parser)
    return parser


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event-types", default="", help="comma-separated patterns (user.*)")
    parser.add_argument("--entity-ids", default="", help="comma-separated ids")
    parser.add_argument("--organization-id", default="", help="only this organization's events")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="the whole retained log")
    start.add_argument("--after-sequence", type=int, default=None, metavar="N")
    start.add_argument("--since", default=None, metavar="ISO-TIME", help="2026-12-02T10:00Z")
    parser.add_argument("--ack-wait", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--max-deliveries", type=int, default=0)
    parser.add_argument("--max-in-flight", type=int, default=0)
    parser.add_argument("--ordering", choices=("none", "per_entity"), default="none")


def _words(text: str) -> list[str]:
    return [word for word in text.replace(" ", ",").split(",") if word]


def _sequences(text: str) -> list[int]:
    try:
        return [int(word) for word in _words(text)]
    except ValueError:
        raise CliError(f"--sequences: not a list of numbers: {text!r}") from None


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `consumers ACTION`."""
    client = relay_client(args, environ)
    run_async(_run(client, args))


async def _run(client: RelayClient, args: argparse.Namespace) -> None:
    try:
        async with client:
            await _act(client, args)
    except PermissionDeniedError as error:
        raise CliError(
            f"the relay refused: {error.details} (managing groups needs an admin token: --token)",
            EXIT_FAILURE,
        ) from None
    except RelayError as error:
        if error.code.name in ("NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION"):
            raise CliError(error.details, EXIT_FAILURE) from None
        raise cli_error(error, client.target) from None


async def _act(client: RelayClient, args: argparse.Namespace) -> None:
    action = args.action
    if action == "list":
        for group in await client.consumer_groups():
            print(
                f"{group.name}: position {group.position} of {group.head_sequence} "
                f"(lag {group.lag}), {group.in_flight_count} in flight, "
                f"{group.parked_count} parked, {group.acked_count} acked"
            )
    elif action == "info":
        if args.rate_window < 0:
            raise CliError("--rate-window: give 0 or more seconds")
        first, started = await client.consumer_group(args.name), time.monotonic()
        if args.rate_window == 0:
            print("\n".join(group_lines(first)))
            return
        await asyncio.sleep(args.rate_window)
        group = await client.consumer_group(args.name)
        seconds = time.monotonic() - started
        print("\n".join(group_lines(group) + rate_lines(first, group, seconds)))
    elif action in ("create", "update"):
        settings = _settings(args)
        if action == "create":
            group = await client.create_consumer_group(args.name, settings)
        else:
            group = await client.update_consumer_group(args.name, settings)
        print("\n".join(group_lines(group)))
    elif action == "delete":
        await client.delete_consumer_group(args.name)
        print(f"deleted {args.name}")
    elif action == "parked":
        for parked in await client.parked_events(args.name, limit=args.limit):
            line = {
                "sequence": parked.event.sequence,
                "type": parked.event.type,
                "id": parked.event.id,
                "attempts": parked.attempts,
                "reason": parked.reason,
                "park_time": parked.park_time.ToJsonString(),
            }
            print(json.dumps(line))
    elif action == "replay-parked":
        count = await client.replay_parked_events(args.name, _sequences(args.sequences))
        print(f"replayed {count} parked events")
    else:
        count = await client.discard_parked_events(args.name, _sequences(args.sequences))
        print(f"discarded {count} parked events")


def _settings(args: argparse.Namespace) -> ConsumerGroupSettings:
    since = None
    if args.since is not None:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since: not an ISO 8601 time: {args.since!r}") from None
        if since.tzinfo is None:
            raise CliError("--since: give a time zone (2026-12-02T10:00Z)")
    try:
        return group_settings(
            event_types=_words(args.event_types),
            entity_ids=_words(args.entity_ids),
            organization_id=args.organization_id,
            after_sequence=0 if args.from_beginning else args.after_sequence,
            since=since,
            ack_wait_s=args.ack_wait,
            max_deliveries=args.max_deliveries,
            max_in_flight=args.max_in_flight,
            ordering=args.ordering,
        )
    except ValueError as error:
        raise CliError(str(error)) from None


def rate_lines(before: ConsumerGroup, after: ConsumerGroup, seconds: float) -> list[str]:
    """The group's ack and delivery rates between two readings `seconds` apart.

    From the stored counts, so every process's members count, wherever the
    readings were answered.
    """

    def rate(earlier: int, later: int) -> str:
        return f"{max(later - earlier, 0) / seconds:,.1f}/s"

    return [
        f"ack rate: {rate(before.acked_count, after.acked_count)} over {seconds:.1f} s",
        f"delivery rate: {rate(before.delivered_count, after.delivered_count)} "
        f"({rate(before.redelivered_count, after.redelivered_count)} redeliveries)",
    ]


def group_lines(group: ConsumerGroup) -> list[str]:
    """A group as `info` prints it."""
    s = group.settings
    lines = [
        f"name: {group.name}",
        f"event types: {', '.join(s.event_types) or '*'}",
    ]
    if s.entity_ids:
        lines.append(f"entity ids: {', '.join(s.entity_ids)}")
    if s.organization_id:
        lines.append(f"organization: {s.organization_id}")
    lines += [
        f"ordering: {_ORDERING_NAMES.get(s.ordering, str(s.ordering))}",
        f"ack wait: {s.ack_wait.ToTimedelta().total_seconds():g} s",
        f"max deliveries: {s.max_deliveries}",
        f"max in flight per member: {s.max_in_flight}",
        f"started after: {s.after_sequence}",
        f"position: {group.position} of {group.head_sequence} (lag {group.lag})",
        f"pending: {group.pending_count}",
        f"in flight: {group.in_flight_count}",
        f"parked: {group.parked_count}",
        f"delivered: {group.delivered_count} ({group.redelivered_count} redeliveries)",
        f"acked: {group.acked_count}",
        f"members here: {len(group.members)}",
    ]
    for member in group.members:
        label = f" ({member.member_name})" if member.member_name else ""
        lines.append(
            f"  {member.member_id}{label} at {member.address}: {member.in_flight} in flight"
        )
    return lines
