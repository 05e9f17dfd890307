"""`clerk-relay get <kind> <id>` and `clerk-relay list <kinds> [filters]`: state as JSON.

Both take a kind's name in the singular or the plural (`user`, `users`).
`get` prints one record, indented: `{"user": {…}, "deleted": false,
"event_sequence": 12}`; an id the relay has never seen is an error (exit 1).
`list` prints one compact JSON record per line (every page, in id order) and
ends with a note on stderr giving the sequence the listing reflects, so that
`clerk-relay tail --after <it>` follows it with nothing missed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from google.protobuf.message import Message

from clerkrelay import Listing, RelayClient, RelayError
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import add_client_flags, cli_error, relay_client, run_async
from clerkrelay.cli.rendering import record_json
from clerkrelay.kinds import ENTITY_KINDS, FILTER_FIELDS, EntityKind

__all__ = ["add_parsers", "run_get", "run_list"]


_BY_NAME = {kind.cli_name: kind for kind in ENTITY_KINDS}
_BY_PLURAL = {kind.cli_plural: kind for kind in ENTITY_KINDS}
_KINDS = _BY_NAME | _BY_PLURAL
"""Every kind by either name: `get users` and `list user` work too."""

# Filter flag → request field: `--organization` → `organization_id`.
_FILTER_FLAGS = {field.removesuffix("_id"): field for field in FILTER_FIELDS}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `get` and `list` to the command parser."""
    get = commands.add_parser(
        "get",
        help="print the last-known state of one entity as JSON",
        description="Print the relay's last-known state of one entity as JSON.",
    )
    get.add_argument(
        "kind",
        choices=list(_KINDS),
        metavar="KIND",
        help=f"one of: {', '.join(_BY_NAME)} (or the plural)",
    )
    get.add_argument("id", metavar="ID", help="Clerk's id of it (user_…, org_…, orgmem_…)")
    add_client_flags(get)

    list_ = commands.add_parser(
        "list",
        help="print the last-known state of many entities as JSON lines",
        description="Print the relay's last-known state of every entity of a kind, one JSON "
        "record per line, in id order.",
    )
    list_.add_argument(
        "kind",
        choices=list(_KINDS),
        metavar="KINDS",
        help=f"one of: {', '.join(_BY_PLURAL)} (or the singular)",
    )
    for flag, field in _FILTER_FLAGS.items():
        users = ", ".join(k.cli_plural for k in ENTITY_KINDS if field in k.filters)
        list_.add_argument(f"--{flag}", default="", metavar="ID", help=f"filter ({users})")
    list_.add_argument("--show-deleted", action="store_true", help="include deleted ones")
    list_.add_argument(
        "--page-size",
        type=int,
        default=0,
        metavar="N",
        help="records per RPC (default: the server's, 100)",
    )
    add_client_flags(list_)


def run_get(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `get`."""
    kind = _KINDS[args.kind]
    client = relay_client(args, environ)
    run_async(_get(client, kind, args.id))


async def _get(client: RelayClient, kind: EntityKind, entity_id: str) -> None:
    try:
        async with client:
            getter = getattr(client, f"get_{kind.name}")
            record: Message | None = await getter(entity_id)
    except RelayError as error:
        raise cli_error(error, client.target) from None
    if record is None:
        raise CliError(
            f"no {kind.cli_name} with id {entity_id!r}: the relay has never seen it", EXIT_FAILURE
        )
    sys.stdout.write(record_json(record, indent=True).decode() + "\n")


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `list`."""
    kind = _KINDS[args.kind]
    filters: dict[str, str] = {}
    for flag, field in _FILTER_FLAGS.items():
        value: str = getattr(args, flag)
        if not value:
            continue
        if field not in kind.filters:
            accepted = ", ".join(f"--{f}" for f, v in _FILTER_FLAGS.items() if v in kind.filters)
            raise CliError(
                f"--{flag} does not apply to {kind.cli_plural}"
                + (f" (they accept {accepted})" if accepted else " (they take no filter)")
            )
        filters[field] = value
    if args.page_size < 0:
        raise CliError("--page-size must not be negative")
    client = relay_client(args, environ)
    run_async(_list(client, kind, filters, args.show_deleted, args.page_size))


async def _list(
    client: RelayClient,
    kind: EntityKind,
    filters: dict[str, str],
    show_deleted: bool,
    page_size: int,
) -> None:
    out = sys.stdout
    count = 0
    try:
        async with client:
            lister = getattr(client, f"list_{kind.plural}")
            listing: Listing[Message] = lister(
                **filters, show_deleted=show_deleted, page_size=page_size
            )
            async for page in listing.pages():
                for record in page.records:
                    out.write(record_json(record).decode() + "\n")
                count += len(page.records)
                out.flush()
    except RelayError as error:
        raise cli_error(error, client.target) from None
    noun = kind.cli_plural if count != 1 else kind.cli_name
    print(
        f"{count} {noun} as of sequence {listing.snapshot_sequence} "
        f"(follow with: clerk-relay tail --after {listing.snapshot_sequence})",
        file=sys.stderr,
    )
