"""`clerk-relay reconcile`: ask a running relay to reconcile its mirror with Clerk now.

The relay (`serve`, or `grpc` in the split deployment) needs Clerk's secret
key (`CLERK_SECRET_KEY`) and, when its auth is on, this command an admin
token (`--token`). `--kinds` takes the command line's plural names
(`users,memberships`), mapped to the registry's; without it, every kind Clerk
can list. While the pass runs, a progress bar per kind is drawn on stderr when
it is a terminal; otherwise nothing is drawn. Each kind's counts are printed
on stdout as it finishes, then the pass's outcome.

Exit 0 when the pass completed; 1 with one line saying why otherwise: the pass
failed (Clerk refused the key, the API cannot be reached), a kind failed, the
mass-delete guard refused (rerun with `--allow-mass-delete`), another pass is
running, the relay has no key, or the token may not start a pass.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import grpc
from rich.progress import Progress, TaskID

from clerkrelay import PermissionDeniedError, RelayClient, RelayError
from clerkrelay.cli.cli_error import EXIT_FAILURE, CliError
from clerkrelay.cli.client_flags import add_client_flags, cli_error, relay_client, run_async
from clerkrelay.cli.progress import progress_bar
from clerkrelay.kinds import ENTITY_KINDS, KIND_BY_NAME
from clerkrelay.v1.reconcile_service_pb2 import KindProgress, ReconcileSummary

__all__ = ["add_parser", "counts_line", "kinds_of", "run"]

_BY_CLI_NAME = {
    **{kind.cli_name: kind.name for kind in ENTITY_KINDS},
    **{kind.cli_plural: kind.name for kind in ENTITY_KINDS},
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `reconcile` to the command parser."""
    parser = commands.add_parser(
        "reconcile",
        help="ask a running relay to reconcile its mirror with Clerk's Backend API now",
        description="Ask a running relay to list entities from Clerk's Backend API, compare "
        "them with its mirror and append the repairs as events. Needs CLERK_SECRET_KEY on the "
        "relay, and an admin token when its auth is on.",
    )
    plurals = ", ".join(kind.cli_plural for kind in ENTITY_KINDS)
    parser.add_argument(
        "--kinds",
        default="",
        metavar="KINDS",
        help=f"comma-separated, of: {plurals} (the relay refuses those Clerk cannot list); "
        "default: every kind Clerk can list",
    )
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="delete entities missing from Clerk's listings even past the relay's "
        "mass-delete guard (--reconcile-max-delete-share)",
    )
    add_client_flags(parser)


def kinds_of(text: str) -> list[str]:
    """`users,memberships` → the registry's names (`user`, `organization_membership`).

    Raises:
        CliError: A name is not a kind's.
    """
    names = []
    for word in text.replace(" ", ",").split(","):
        if not word:
            continue
        name = _BY_CLI_NAME.get(word.lower())
        if name is None:
            plurals = ", ".join(kind.cli_plural for kind in ENTITY_KINDS)
            raise CliError(f"--kinds: unknown kind {word!r} (use {plurals})")
        names.append(name)
    return names


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Runs `reconcile`."""
    kinds = kinds_of(args.kinds)
    client = relay_client(args, environ)
    run_async(_reconcile(client, kinds, args.allow_mass_delete))


async def _reconcile(client: RelayClient, kinds: Sequence[str], allow_mass_delete: bool) -> None:
    bar = progress_bar(sys.stderr)
    summary: ReconcileSummary | None = None
    try:
        async with client:
            with bar if bar is not None else _NoBar():
                tasks: dict[str, TaskID] = {}
                printed: set[str] = set()
                async for response in client.reconcile(kinds, allow_mass_delete=allow_mass_delete):
                    if response.HasField("summary"):
                        summary = response.summary
                        continue
                    progress = response.progress
                    if bar is not None:
                        _draw(bar, tasks, progress)
                    elif progress.done and progress.kind not in printed:
                        printed.add(progress.kind)
                        print(counts_line(progress), flush=True)
    except PermissionDeniedError as error:
        raise CliError(
            f"the relay refused: {error.details} (reconcile needs an admin token: --token)",
            EXIT_FAILURE,
        ) from None
    except RelayError as error:
        if error.code in (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION):
            raise CliError(f"the relay refused: {error.details}", EXIT_FAILURE) from None
        raise cli_error(error, client.target) from None
    if summary is None:
        raise CliError("the relay ended the call before the pass finished", EXIT_FAILURE)
    for progress in summary.kinds:  # with a bar: every kind, now that it is gone
        if progress.kind not in printed:
            print(counts_line(progress), flush=True)
    _conclude(summary)


class _NoBar:
    """A context manager that does nothing (no terminal, no bar)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _plural(kind: str) -> str:
    found = KIND_BY_NAME.get(kind)
    return found.cli_plural if found is not None else kind


def _draw(bar: Progress, tasks: dict[str, TaskID], progress: KindProgress) -> None:
    total = progress.total or None
    if progress.kind not in tasks:
        tasks[progress.kind] = bar.add_task(_plural(progress.kind), total=total)
    task = tasks[progress.kind]
    if progress.done:
        total = progress.scanned
    bar.update(task, completed=progress.scanned, total=total)


def counts_line(progress: KindProgress) -> str:
    """One kind's counts, as printed on stdout."""
    of = f" of {progress.total}" if progress.total else ""
    line = (
        f"{_plural(progress.kind)}: {progress.scanned} scanned{of}, {progress.created} created, "
        f"{progress.updated} updated, {progress.deleted} deleted, "
        f"{progress.unchanged} unchanged, {progress.kept} kept"
    )
    if progress.not_deleted:
        line += f", {progress.not_deleted} not deleted"
    if progress.untyped:
        line += f", {progress.untyped} stored raw or skipped"
    if progress.error:
        line += f" (failed: {progress.error})"
    return line


def _conclude(summary: ReconcileSummary) -> None:
    """Prints the outcome; raises CliError when the pass did not do all it should."""
    if summary.error:
        raise CliError(f"pass {summary.pass_id} failed: {summary.error}", EXIT_FAILURE)
    failed = [p for p in summary.kinds if p.error]
    if failed:
        reasons = "; ".join(f"{_plural(p.kind)}: {p.error}" for p in failed)
        raise CliError(f"pass {summary.pass_id} did not complete: {reasons}", EXIT_FAILURE)
    refused = [p for p in summary.kinds if p.refusal]
    if refused:
        reasons = "; ".join(f"{_plural(p.kind)}: {p.refusal}" for p in refused)
        raise CliError(
            f"pass {summary.pass_id} deleted nothing of some kinds: {reasons} "
            "(rerun with --allow-mass-delete if these deletions are right)",
            EXIT_FAILURE,
        )
    print(f"pass {summary.pass_id} completed: {summary.appended} events appended", flush=True)
