"""Disks that fill up under a SQLite store: a real tmpfs, or SQLite's page limit.

`max_page_count` on the store's writer connection makes SQLite fail exactly as
on a full disk (`SQLITE_FULL`, "database or disk is full") and needs no
privileges; a tmpfs of a few MiB is the real thing, but mounting one needs
root (the test is skipped, saying why, otherwise).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.storage.sqlite import SqliteStore

FULL = "database or disk is full"
"""SQLite's message for `SQLITE_FULL`."""

NO_PAGE_LIMIT = 4294967294
"""SQLite's default `max_page_count`."""


@contextlib.contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (`2m`) mounted on a new `directory`; skips when it cannot be mounted."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small filesystem with")
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def fill(directory: Path) -> Path:
    """Writes a file in `directory` until the filesystem has no space left; returns it."""
    filler = directory / "filler"
    with filler.open("wb") as out, pytest.raises(OSError, match="No space left on device"):
        while True:
            out.write(bytes(64 << 10))
            out.flush()
    return filler


async def limit_pages(store: SqliteStore, pages: int) -> None:
    """Sets `max_page_count` on the store's writer connection (1: no page may be added)."""

    def run() -> None:
        store._connections.writer().execute(f"PRAGMA max_page_count = {pages}")

    # On the writer's own thread, which owns that connection.
    await store._writer.run(run)
