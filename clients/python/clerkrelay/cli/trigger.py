"""`clerk-relay trigger <event-type>`: post correctly signed sample webhooks to a gateway.

Each delivery is Clerk's own example of the type (`clerkrelay.cli.samples`) made
fresh: a new `svix-id`, a new `data.id` (same prefix, random rest), and the
current time as the envelope's `timestamp` and as `data.created_at` /
`data.updated_at` when the example has them, so the relay takes it as the
newest state. `--id` and `--set PATH=VALUE` then shape it
(`clerkrelay.cli.overrides`): `trigger user.updated --id user_… --set
data.first_name=Ada` updates a user seen earlier. It is signed as Svix signs
(`svix-id`, `svix-timestamp`, `svix-signature`) with the first secret of `--signing-secret` or
CLERK_WEBHOOK_SIGNING_SECRET, else with the secret `serve --dev` keeps beside
its database (`clerkrelay.cli.dev_secret`). A 401 says that the secrets differ.

One delivery prints its response. Several (`--count`) are sent by a few
concurrent workers; each line of output is one delivery, except on a
terminal, where a progress bar replaces them and only failures are printed.
A summary follows. The exit code is 1 when any delivery was not accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import secrets
import string
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError, did_you_mean
from clerkrelay.cli.client_flags import positive_int, run_async
from clerkrelay.cli.dev_secret import read_dev_secret
from clerkrelay.cli.overrides import Override, apply_overrides, parse_override
from clerkrelay.cli.progress import progress_bar
from clerkrelay.cli.samples import sample, sample_types
from clerkrelay.cli.settings import HTTP_ADDR, SIGNING_SECRET

if TYPE_CHECKING:
    from svix.webhooks import Webhook  # imported when signing: svix is slow to import

__all__ = ["Delivery", "add_parser", "fresh_envelope", "run", "webhook_url"]

_ALPHABET = string.ascii_letters + string.digits
_NO_SECRET = (
    "no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET to the secret the gateway "
    "verifies with (`clerk-relay serve --dev` prints the one it generated), or pass "
    "--signing-secret; `serve --dev` keeps its own beside its database, but none was found"
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `trigger` to the command parser."""
    parser = commands.add_parser(
        "trigger",
        help="post a correctly signed sample webhook to a gateway",
        description="Post Clerk's example webhook of an event type, with fresh ids and the "
        "current time, signed like Svix, to a clerk-relay gateway.",
    )
    parser.add_argument(
        "event_type",
        nargs="?",
        metavar="EVENT_TYPE",
        help="e.g. user.created (see --list for every type)",
    )
    parser.add_argument(
        "--list", action="store_true", help="print every event type with a bundled example"
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help="the gateway, e.g. http://127.0.0.1:8080 (/webhooks/clerk is added when the URL "
        "has no path) [default: http://$CLERK_RELAY_HTTP_ADDR, else http://127.0.0.1:8080]",
    )
    parser.add_argument(
        "--count",
        type=positive_int,
        default=1,
        metavar="N",
        help="how many webhooks to send (default 1)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        metavar="N",
        help="deliveries in flight at once with --count (default 8)",
    )
    parser.add_argument(
        "--id",
        dest="data_id",
        metavar="ID",
        help="use this data.id instead of a random one (e.g. to update or delete an entity "
        "seen earlier: trigger user.updated --id user_…)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=parse_override,
        default=[],
        metavar="PATH=VALUE",
        help="set a field of the envelope, e.g. --set data.first_name=Ada or "
        '--set \'data.public_metadata={"plan":"pro"}\' (VALUE is read as JSON when it is JSON, '
        "else as a string; repeatable)",
    )
    SIGNING_SECRET.add_to(parser)


def webhook_url(url: str) -> str:
    """`url` with `/webhooks/clerk` as its path when it has none.

    Raises:
        CliError: Not an http(s) URL.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"--url must be an http:// or https:// URL (got {url!r})")
    if parts.path in ("", "/"):
        parts = parts._replace(path="/webhooks/clerk")
    return urlunsplit(parts)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def fresh_envelope(event_type: str, now_ms: int) -> dict[str, Any]:
    """Clerk's example of `event_type` with a new `data.id` and the current time.

    Raises:
        KeyError: No example is bundled for the type.
    """
    envelope = copy.deepcopy(sample(event_type))
    envelope["timestamp"] = now_ms
    data = envelope.get("data")
    if isinstance(data, dict):
        old = data.get("id")
        if isinstance(old, str) and old:
            prefix, _, rest = old.rpartition("_")
            data["id"] = f"{prefix}_{_random(len(rest))}" if prefix else _random(len(old))
        for field in ("created_at", "updated_at"):
            if isinstance(data.get(field), int):
                data[field] = now_ms
    return envelope


@dataclass(frozen=True, slots=True)
class Delivery:
    """One posted webhook and the gateway's answer.

    Attributes:
        webhook_id: The `svix-id` sent.
        data_id: The event's `data.id` ("" when it has none).
        status_code: The HTTP status.
        body: The response body, as text.
    """

    webhook_id: str
    data_id: str
    status_code: int
    body: str

    @property
    def accepted(self) -> bool:
        """The gateway answered 2xx."""
        return 200 <= self.status_code < 300

    def line(self, event_type: str) -> str:
        """`HTTP 200  user.created  data.id=user_…  svix-id=msg_…  {"sequence":1}`."""
        return (
            f"HTTP {self.status_code}  {event_type}  data.id={self.data_id or '-'}  "
            f"svix-id={self.webhook_id}  {self.body.strip()}"
        )


def _check_type(event_type: str | None) -> str:
    if not event_type:
        raise CliError("name an event type, e.g. `clerk-relay trigger user.created` (see --list)")
    known = sample_types()
    if event_type not in known:
        raise CliError(
            f"unknown event type {event_type!r}{did_you_mean(event_type, known)}: "
            f"run `clerk-relay trigger --list` to see the {len(known)} types with a bundled example"
        )
    return event_type


def _signer(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Webhook, str]:
    """The signer, and where its secret came from (for the hint that follows a 401)."""
    found = SIGNING_SECRET.value(args, environ)
    if found:
        secret = found[0]
        source = (
            f"from {SIGNING_SECRET.label}"
            if getattr(args, SIGNING_SECRET.name, None)
            else f"from {SIGNING_SECRET.env}"
        )
    else:
        try:
            kept = read_dev_secret(environ)
        except OSError as error:
            raise CliError(f"cannot read the dev signing secret: {error}") from None
        if kept is None:
            raise CliError(_NO_SECRET)
        secret, source = kept[0], f"the dev secret kept in {kept[1]}"
    try:
        from svix.webhooks import Webhook

        return Webhook(secret), source
    except Exception:  # binascii.Error, EmptyWebhookSecretError, …
        raise CliError("the webhook signing secret is not a valid whsec_ secret") from None


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `trigger`."""
    if args.list:
        sys.stdout.write("".join(f"{t}\n" for t in sample_types()))
        return
    event_type = _check_type(args.event_type)
    signer, source = _signer(args, environ)
    http_addr = HTTP_ADDR.value(args, environ)  # trigger has no --http-addr: the variable
    url = webhook_url(args.url or f"http://{http_addr}")
    overrides = list(args.overrides)
    if args.data_id is not None:
        overrides.insert(0, Override(("data", "id"), args.data_id))
    apply_overrides(fresh_envelope(event_type, 0), overrides)  # a bad path fails before sending
    run_async(_trigger(event_type, overrides, signer, url, args.count, args.concurrency, source))


async def _deliver(
    http: httpx.AsyncClient,
    url: str,
    event_type: str,
    overrides: Sequence[Override],
    signer: Webhook,
) -> Delivery:
    now = datetime.now(tz=UTC)
    envelope = fresh_envelope(event_type, int(now.timestamp() * 1000))
    apply_overrides(envelope, overrides)
    body = orjson.dumps(envelope)
    webhook_id = f"msg_{_random(27)}"
    headers = {
        "svix-id": webhook_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": signer.sign(webhook_id, now, body.decode()),
        "content-type": "application/json",
    }
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.TransportError as error:
        raise CliError(
            f"cannot reach the gateway at {url} (is `clerk-relay serve` running? see --url): "
            f"{error or type(error).__name__}",
            EXIT_FAILURE,
        ) from None
    data = envelope.get("data")
    data_id = data.get("id", "") if isinstance(data, dict) else ""
    return Delivery(webhook_id, str(data_id), response.status_code, response.text)


async def _trigger(
    event_type: str,
    overrides: Sequence[Override],
    signer: Webhook,
    url: str,
    count: int,
    workers: int,
    source: str,
) -> None:
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    refused: list[Delivery] = []
    bar = progress_bar(sys.stderr) if count > 1 else None
    task = bar.add_task(f"{event_type} → {url}", total=count) if bar is not None else None
    remaining = iter(range(count))

    async def worker(http: httpx.AsyncClient) -> None:
        for _ in remaining:
            delivery = await _deliver(http, url, event_type, overrides, signer)
            statuses[delivery.status_code] += 1
            if not delivery.accepted:
                refused.append(delivery)
            if bar is None or task is None:
                print(delivery.line(event_type), flush=count == 1)
                continue
            if not delivery.accepted:
                bar.console.print(delivery.line(event_type), markup=False, highlight=False)
            bar.advance(task)

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        if bar is not None:
            bar.start()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, count)):
                    group.create_task(worker(http))
        except* CliError as errors:
            raise errors.exceptions[0] from None
        finally:
            if bar is not None:
                bar.stop()

    if count > 1:
        elapsed = time.monotonic() - started
        summary = ", ".join(f"HTTP {status} ×{n}" for status, n in sorted(statuses.items()))
        print(f"sent {count} {event_type} webhooks to {url} in {elapsed:.1f} s: {summary}")
    if refused:
        hint = (
            f": the relay's signing secret differs from the one trigger used ({source}); use "
            "the one the relay verifies with (`serve --dev` prints it): set "
            f"{SIGNING_SECRET.env} or pass {SIGNING_SECRET.label}"
            if statuses[401]
            else ""
        )
        raise CliError(f"{len(refused)} of {count} webhooks were not accepted{hint}", EXIT_FAILURE)
