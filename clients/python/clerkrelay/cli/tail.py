"""`clerk-relay tail`: subscribe through the Python client and print one line per event.

Lines are human-readable by default (time, sequence, type, subject id) and
JSON with `--json` (see `clerkrelay.cli.rendering`). The subscription reconnects and
resumes by itself when the server restarts. A replay (`--after`,
`--from-beginning`) written to a file or a pipe shows a progress bar on
stderr when stderr is a terminal; it goes away once the stream is live.
On a terminal, a "connected … waiting for events" line on stderr says when
the stream is live. Output is flushed at least every 0.1 s, and at once when live.
An exact event type that Clerk does not send (a typo) is refused with the
closest one; patterns with `*` are checked by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import select
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from rich.progress import Progress

from clerkrelay import (
    EVENT_TYPES,
    LEGACY_EVENT_TYPES,
    EventStream,
    FileCheckpoint,
    RelayClient,
    RelayError,
)
from clerkrelay.cli.cli_error import CliError, did_you_mean
from clerkrelay.cli.client_flags import (
    add_client_flags,
    cli_error,
    positive_int,
    relay_client,
    run_async,
)
from clerkrelay.cli.progress import is_terminal, progress_bar
from clerkrelay.cli.rendering import event_json, event_line

__all__ = ["add_parser", "run"]

_FLUSH_INTERVAL_S = 0.1


def _sequence(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `tail` to the command parser."""
    parser = commands.add_parser(
        "tail",
        help="subscribe and print one line per event",
        description="Subscribe to the relay's events and print one line per event. "
        "Without --after, --from-beginning or a saved --checkpoint, only events stored from now "
        "on are shown.",
    )
    parser.add_argument(
        "--types",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATTERN",
        help="event types: user.created, a family such as 'user.*', or '*' (default: all)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--after", type=_sequence, metavar="N", help="start after sequence N (replay)"
    )
    start.add_argument(
        "--from-beginning", action="store_true", help="replay the whole retained log first"
    )
    parser.add_argument(
        "--organization", default="", metavar="ID", help="only events of this organization"
    )
    parser.add_argument(
        "--entity",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="only events about these ids (a payload's id, or the user it concerns)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument(
        "--count", type=positive_int, metavar="N", help="exit after printing N events"
    )
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once every stored event is printed, instead of following live events",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="resume after the position saved in FILE, and keep saving it there",
    )
    add_client_flags(parser)


def _check_types(patterns: list[str]) -> None:
    """Refuses an exact type Clerk does not send; patterns with `*` are the server's to check.

    Raises:
        CliError: A type is unknown (with the closest known one, when there is one).
    """
    known = (*EVENT_TYPES, *LEGACY_EVENT_TYPES)
    for pattern in patterns:
        if "*" not in pattern and pattern not in known:
            raise CliError(
                f"unknown event type {pattern!r}{did_you_mean(pattern, EVENT_TYPES)}: "
                "name a type Clerk sends, a family such as 'user.*', or '*'"
            )


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `tail`."""
    _check_types(args.types)
    client = relay_client(args, environ)
    run_async(_tail(args, client))


async def _tail(args: argparse.Namespace, client: RelayClient) -> None:
    after = 0 if args.from_beginning else args.after
    try:
        checkpoint = FileCheckpoint(args.checkpoint) if args.checkpoint else None
        async with client:
            head = await client.head_sequence()  # fails fast when unreachable or refused
            stream = client.subscribe(
                event_types=args.types,
                after_sequence=after,
                organization_id=args.organization,
                entity_ids=args.entity,
                checkpoint=checkpoint,
                until_caught_up=args.until_caught_up,
            )
            async with stream:
                await _print(args, stream, head, client.target)
    except RelayError as error:
        raise cli_error(error, client.target) from None
    except ValueError as error:  # a corrupt checkpoint file
        raise CliError(str(error)) from None


async def _print(args: argparse.Namespace, stream: EventStream, head: int, target: str) -> None:
    out = sys.stdout
    start = stream.position
    replay = start is not None and head > start
    bar = progress_bar(sys.stderr) if replay and not is_terminal(out) else None
    live = is_terminal(out) and not args.until_caught_up
    waiting = f"connected to {target}, waiting for events (Ctrl-C to stop)" if live else None
    printer = asyncio.create_task(_print_events(args, stream, out))
    watcher = asyncio.create_task(_watch(stream, out, bar, start or 0, head, waiting))
    try:
        await asyncio.wait({printer, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watcher, printer):
            task.cancel()
        await asyncio.gather(watcher, printer, return_exceptions=True)
        if bar is not None:
            bar.stop()
    for task in (printer, watcher):
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
    out.flush()
    if not watcher.cancelled() and watcher.result():
        raise BrokenPipeError("the reader of stdout went away")


async def _print_events(args: argparse.Namespace, stream: EventStream, out: TextIO) -> None:
    printed = 0
    async for event in stream:
        if args.json:
            out.write(event_json(event).decode() + "\n")
        else:
            out.write(event_line(event) + "\n")
        printed += 1
        if stream.caught_up:
            out.flush()
        if args.count is not None and printed >= args.count:
            return


def _reader_gone(out: TextIO) -> bool:
    """True when `out` is a pipe whose reading end was closed (`| head` exited)."""
    try:
        poller = select.poll()
        poller.register(out.fileno(), select.POLLERR)
    except (OSError, ValueError, AttributeError):  # no fd, or no poll on this platform
        return False
    return any(events & select.POLLERR for _, events in poller.poll(0))


async def _watch(
    stream: EventStream,
    out: TextIO,
    bar: Progress | None,
    start: int,
    head: int,
    waiting: str | None,
) -> bool:
    """Flushes the output now and then, moves the replay's progress bar, and says when live.

    `waiting`, when given, is printed on stderr once, when the stream first
    catches up (every stored event printed: what follows is live).

    Returns:
        True (and stops watching) when the reader of `out` went away, so that
        a tail into `| head` ends without waiting for one more event.
    """
    task = None
    if bar is not None:
        bar.start()
        task = bar.add_task("replaying", total=head - start)
    while True:
        await asyncio.sleep(_FLUSH_INTERVAL_S)
        if _reader_gone(out):
            return True
        out.flush()
        if waiting is not None and stream.caught_up:
            print(waiting, file=sys.stderr, flush=True)
            waiting = None
        if bar is None or task is None:
            continue
        position = stream.position or start
        bar.update(task, completed=min(position, head) - start)
        if stream.caught_up or position >= head:
            bar.stop()
            bar = None
