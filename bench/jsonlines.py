"""The worker side of `bench.procs.Worker`: commands from stdin, events to stdout, one JSON a line.

A worker process reads its configuration from its one argument, then serves
commands (`{"cmd": ...}`) in order until `quit` or the end of its input. Any
exception in a command is reported as `{"event": "error"}` and ends the worker.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["Handler", "config", "emit", "serve_commands"]

Handler = Callable[[dict[str, Any]], Awaitable[None]]
"""Runs one command (its reply is emitted by the handler itself)."""


def config() -> dict[str, Any]:
    """The worker's configuration (its only command-line argument)."""
    loaded: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    return loaded


def emit(event: str, **fields: Any) -> None:
    """Writes one event line to stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _lines() -> AsyncIterator[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip():
            command: dict[str, Any] = json.loads(line)
            yield command


async def serve_commands(handlers: dict[str, Handler]) -> None:
    """Runs commands as they arrive until `quit` or end of input.

    Args:
        handlers: The command name (`cmd`) → its handler.
    """
    try:
        async for command in _lines():
            name = command.get("cmd")
            if name == "quit":
                return
            handler = handlers.get(str(name))
            if handler is None:
                raise ValueError(f"unknown command {name!r}")
            await handler(command)
    except Exception as error:
        traceback.print_exc()
        emit("error", error=f"{type(error).__name__}: {error}")
        raise SystemExit(1) from error
