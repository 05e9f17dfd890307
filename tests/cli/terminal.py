"""`clerk-relay` on a pseudo-terminal: what a person at a terminal sees, for the tests."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["Terminal"]


class Terminal:
    """A `clerk-relay` process whose chosen streams are a pseudo-terminal (`TERM=xterm`).

    Args:
        args: The command line after `clerk-relay`.
        env: Its environment (TERM is set to xterm).
        stderr_too: Put stderr on the terminal as well; otherwise stderr is a pipe.
    """

    def __init__(self, args: Sequence[str], env: dict[str, str], *, stderr_too: bool) -> None:
        master, slave = pty.openpty()
        self._master = master
        self.seen = ""
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clerkrelay.cli", *args],
                env={**env, "TERM": "xterm", "COLUMNS": "120"},
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=slave if stderr_too else subprocess.PIPE,
            )
        finally:
            os.close(slave)

    def read_until(self, text: str, timeout_s: float = 20) -> str:
        """Reads the terminal until `text` shows up; returns all it showed so far.

        Raises:
            AssertionError: It did not show up in time (the message holds what did).
        """
        deadline = time.monotonic() + timeout_s
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0 and self._read(left), f"{text!r} not shown; shown: {self.seen!r}"
        return self.seen

    def finish(self, timeout_s: float = 30) -> int:
        """Reads the terminal until the process ends; returns its exit code."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._read(max(deadline - time.monotonic(), 0.01)):
            pass
        return self.process.wait(max(deadline - time.monotonic(), 1))

    def close(self) -> None:
        """Kills the process if it still runs, and closes the terminal."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        os.close(self._master)

    def _read(self, timeout_s: float) -> bool:
        """Reads what is there within `timeout_s`; False once the terminal has no writer left."""
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return self.process.poll() is None
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: every writer has closed it
            return False
        if not chunk:
            return False
        self.seen += chunk.decode(errors="replace")
        return True
