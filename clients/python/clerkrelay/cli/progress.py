"""Progress bars for long commands, drawn with rich on stderr, and only on a terminal.

A bar goes to stderr so it never mixes with the data on stdout. `progress_bar`
returns None when stderr is not a terminal (CI logs, `2>file`), and the
caller decides whether stdout being a terminal rules it out too (`tail`
prints its events there).
"""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["is_terminal", "progress_bar"]


def is_terminal(stream: TextIO) -> bool:
    """True when `stream` is an interactive terminal (and TERM is not `dumb`)."""
    try:
        interactive = stream.isatty()
    except ValueError:  # closed
        return False
    return interactive and os.environ.get("TERM", "") != "dumb"


def progress_bar(out: TextIO) -> Progress | None:
    """A rich `Progress` drawing on `out`, or None when `out` is not a terminal."""
    if not is_terminal(out):
        return None
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=True,
    )
