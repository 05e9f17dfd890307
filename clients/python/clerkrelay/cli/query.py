"""`clerk-relay get <kind> <id>` and `clerk-relay list <kinds> [filters]`: state as JSON.

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
from dataclasses import dataclass

from google.protobuf.message import Message

from clerkrelay import Listing, RelayClient, RelayError
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import add_client_flags, cli_error, relay_client, run_async
from clerkrelay.cli.rendering import record_json

__all__ = ["KINDS", "Kind", "add_parsers", "run_get", "run_list"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One entity kind as the command line names it.

    Attributes:
        name: The `get` argument (`membership`).
        plural: The `list` argument (`memberships`).
        entity: The client's name for it (`organization_membership`): the
            helpers are `get_<entity>` and `list_<entity plural>`.
        entities: The plural the client uses (`organization_memberships`).
        filters: The `list` filters it accepts, as request fields (`organization_id`).
    """

    name: str
    plural: str
    entity: str
    entities: str
    filters: tuple[str, ...] = ()


KINDS: tuple[Kind, ...] = (
    Kind("user", "users", "user", "users"),
    Kind("organization", "organizations", "organization", "organizations"),
    Kind(
        "membership",
        "memberships",
        "organization_membership",
        "organization_memberships",
        ("organization_id", "user_id"),
    ),
    Kind(
        "invitation",
        "invitations",
        "organization_invitation",
        "organization_invitations",
        ("organization_id",),
    ),
    Kind("domain", "domains", "organization_domain", "organization_domains", ("organization_id",)),
    Kind("session", "sessions", "session", "sessions", ("user_id",)),
    Kind("role", "roles", "role", "roles"),
    Kind("permission", "permissions", "permission", "permissions"),
    Kind("waitlist-entry", "waitlist-entries", "waitlist_entry", "waitlist_entries"),
    Kind("subscription", "subscriptions", "subscription", "subscriptions", ("payer_id",)),
    Kind(
        "subscription-item",
        "subscription-items",
        "subscription_item",
        "subscription_items",
        ("subscription_id", "payer_id"),
    ),
    Kind(
        "payment-attempt", "payment-attempts", "payment_attempt", "payment_attempts", ("payer_id",)
    ),
)
"""Every kind the relay mirrors."""

_BY_NAME = {kind.name: kind for kind in KINDS}
_BY_PLURAL = {kind.plural: kind for kind in KINDS}

# Filter flag → request field.
_FILTER_FLAGS = {
    "organization": "organization_id",
    "user": "user_id",
    "subscription": "subscription_id",
    "payer": "payer_id",
}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `get` and `list` to the command parser."""
    get = commands.add_parser(
        "get",
        help="print the last-known state of one entity as JSON",
        description="Print the relay's last-known state of one entity as JSON.",
    )
    get.add_argument(
        "kind", choices=list(_BY_NAME), metavar="KIND", help=f"one of: {', '.join(_BY_NAME)}"
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
        "kind", choices=list(_BY_PLURAL), metavar="KINDS", help=f"one of: {', '.join(_BY_PLURAL)}"
    )
    for flag, field in _FILTER_FLAGS.items():
        users = ", ".join(k.plural for k in KINDS if field in k.filters)
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
    kind = _BY_NAME[args.kind]
    client = relay_client(args, environ)
    run_async(_get(client, kind, args.id))


async def _get(client: RelayClient, kind: Kind, entity_id: str) -> None:
    try:
        async with client:
            getter = getattr(client, f"get_{kind.entity}")
            record: Message | None = await getter(entity_id)
    except RelayError as error:
        raise cli_error(error, client.target) from None
    if record is None:
        raise CliError(
            f"no {kind.name} with id {entity_id!r}: the relay has never seen it", EXIT_FAILURE
        )
    sys.stdout.write(record_json(record, indent=True).decode() + "\n")


def run_list(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `list`."""
    kind = _BY_PLURAL[args.kind]
    filters: dict[str, str] = {}
    for flag, field in _FILTER_FLAGS.items():
        value: str = getattr(args, flag)
        if not value:
            continue
        if field not in kind.filters:
            accepted = ", ".join(f"--{f}" for f, v in _FILTER_FLAGS.items() if v in kind.filters)
            raise CliError(
                f"--{flag} does not apply to {kind.plural}"
                + (f" (they accept {accepted})" if accepted else " (they take no filter)")
            )
        filters[field] = value
    if args.page_size < 0:
        raise CliError("--page-size must not be negative")
    client = relay_client(args, environ)
    run_async(_list(client, kind, filters, args.show_deleted, args.page_size))


async def _list(
    client: RelayClient, kind: Kind, filters: dict[str, str], show_deleted: bool, page_size: int
) -> None:
    out = sys.stdout
    count = 0
    try:
        async with client:
            lister = getattr(client, f"list_{kind.entities}")
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
    noun = kind.plural if count != 1 else kind.name
    print(
        f"{count} {noun} as of sequence {listing.snapshot_sequence} "
        f"(follow with: clerk-relay tail --after {listing.snapshot_sequence})",
        file=sys.stderr,
    )
