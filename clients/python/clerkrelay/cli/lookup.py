"""`clerk-relay event <svix-id|sequence>` and `clerk-relay history <kind> <id>`: the log, looked up.

`event` (or `show`) prints one event, indented: the envelope, its typed view
(`payload`) and the raw JSON Clerk sent (`raw_body`), as `tail --json` does
(`clerkrelay.cli.rendering`). A number is a sequence, anything else a webhook
id; an event the log does not hold is an error (exit 1).

`history` prints every retained event about one entity, in log order, one
line each as `tail` prints them (`--json`: one JSON object a line). The kind
takes the names `get` takes (`user`, `membership`, or the plural) and narrows
the history to the events that change that kind of entity; `any` lists every
event about the id (a user's sessions and memberships too). A note on stderr
ends it: how many events, and the sequence the history reflects.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

import orjson

from clerkrelay import RelayClient, RelayError
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import add_client_flags, cli_error, relay_client, run_async
from clerkrelay.cli.rendering import event_json, event_line
from clerkrelay.kinds import ENTITY_KINDS
from clerkrelay.v1.event_pb2 import Event

__all__ = ["ANY_KIND", "add_parsers", "run_event", "run_history"]

ANY_KIND = "any"
"""`history any ID`: every event about the id, whatever its type."""

_KINDS = {kind.cli_name: kind.name for kind in ENTITY_KINDS} | {
    kind.cli_plural: kind.name for kind in ENTITY_KINDS
}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `event` and `history` to the command parser."""
    event = commands.add_parser(
        "event",
        aliases=["show"],
        help="print one event of the log (typed view and raw JSON)",
        description="Print one event of the relay's log as indented JSON: its envelope, its "
        "typed view (payload) and the raw JSON Clerk sent (raw_body).",
    )
    event.add_argument(
        "key", metavar="SVIX_ID|SEQUENCE", help="the webhook's svix-id (msg_…) or a sequence"
    )
    add_client_flags(event)

    history = commands.add_parser(
        "history",
        help="print every event about one entity, in log order",
        description="Print every retained event about one entity, oldest first: the history "
        "behind its current state (`clerk-relay get`).",
    )
    history.add_argument(
        "kind",
        choices=[ANY_KIND, *_KINDS],
        metavar="KIND",
        help=f"one of: {', '.join(k.cli_name for k in ENTITY_KINDS)} (or the plural), or "
        f"{ANY_KIND} for every event about the id",
    )
    history.add_argument("id", metavar="ID", help="Clerk's id of it (user_…, org_…, orgmem_…)")
    history.add_argument("--json", action="store_true", help="print JSON lines")
    add_client_flags(history)


def run_event(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `event`."""
    key: str = args.key
    if key.isdecimal():
        sequence = int(key)
        if sequence < 1:
            raise CliError("a sequence is 1 or more")
        run_async(_event(relay_client(args, environ), sequence))
    else:
        run_async(_event(relay_client(args, environ), key))


async def _event(client: RelayClient, key: int | str) -> None:
    try:
        async with client:
            found: Event | None = await client.get_event(key)
    except RelayError as error:
        raise cli_error(error, client.target) from None
    if found is None:
        what = f"sequence {key}" if isinstance(key, int) else f"id {key!r}"
        raise CliError(
            f"no event with {what} in the log (never received, or trimmed by retention)",
            EXIT_FAILURE,
        )
    sys.stdout.write(_indented(event_json(found)) + "\n")


def _indented(compact: bytes) -> str:
    return orjson.dumps(orjson.loads(compact), option=orjson.OPT_INDENT_2).decode()


def run_history(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `history`."""
    kind = "" if args.kind == ANY_KIND else _KINDS[args.kind]
    run_async(_history(relay_client(args, environ), args.id, kind, args.json))


async def _history(client: RelayClient, entity_id: str, kind: str, as_json: bool) -> None:
    out = sys.stdout
    count = 0
    try:
        async with client:
            listing = client.entity_events(entity_id, kind=kind)
            async for page in listing.pages():
                for found in page.records:
                    out.write((event_json(found).decode() if as_json else event_line(found)) + "\n")
                count += len(page.records)
                out.flush()
    except RelayError as error:
        raise cli_error(error, client.target) from None
    print(
        f"{count} event{'s' if count != 1 else ''} about {entity_id} "
        f"as of sequence {listing.snapshot_sequence}",
        file=sys.stderr,
    )
