"""Where a subscription keeps its position, so a restarted consumer resumes instead of replaying.

A position is a log sequence: "every event up to here has been handled".
`RelayClient.subscribe(checkpoint=…)` loads it once when the subscription
starts and saves it as the consumer makes progress (see `EventStream` for
exactly when). `FileCheckpoint` survives restarts; `MemoryCheckpoint` lives as
long as the object (tests, or several subscriptions in one process sharing
progress). Anything with the same two methods works too (a database row, a
key in Redis): `Checkpoint` is a protocol.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Checkpoint", "FileCheckpoint", "MemoryCheckpoint"]


@runtime_checkable
class Checkpoint(Protocol):
    """Loads and saves a subscription's position.

    Both methods are called on the event loop's thread and should return
    quickly.
    """

    def load(self) -> int | None:
        """The saved sequence, or None when nothing was saved yet."""
        ...

    def save(self, sequence: int) -> None:
        """Records that every event up to `sequence` has been handled."""
        ...


class MemoryCheckpoint:
    """A position held in memory.

    Args:
        sequence: The initial position; None means "nothing saved".

    Attributes:
        sequence: The last saved position (None until the first save).
        saves: How many times `save` was called.
    """

    __slots__ = ("saves", "sequence")

    def __init__(self, sequence: int | None = None) -> None:
        self.sequence = sequence
        self.saves = 0

    def __repr__(self) -> str:
        return f"MemoryCheckpoint(sequence={self.sequence!r})"

    def load(self) -> int | None:
        """The last saved position."""
        return self.sequence

    def save(self, sequence: int) -> None:
        """Keeps `sequence` as the position."""
        self.sequence = sequence
        self.saves += 1


class FileCheckpoint:
    """A position kept in a small text file (the sequence in decimal, and a newline).

    Saving writes a temporary file in the same directory, flushes it (and
    `fsync`s it unless `durable=False`), then renames it over the old one with
    `os.replace`: a crash leaves either the old position or the new one, never
    a torn file. The directory is created when missing.

    Args:
        path: The file.
        durable: `fsync` each save, so the position survives a power loss and
            not only a crash of the process. Costs a disk flush per save.
    """

    __slots__ = ("_durable", "path")

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.path = Path(path)
        self._durable = durable

    def __repr__(self) -> str:
        return f"FileCheckpoint({str(self.path)!r})"

    def load(self) -> int | None:
        """The saved sequence; None when the file does not exist.

        Raises:
            ValueError: The file exists but does not hold a sequence.
        """
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            raise ValueError(f"{self.path} does not hold a sequence number: {text[:40]!r}")
        return int(text)

    def save(self, sequence: int) -> None:
        """Atomically replaces the file's content with `sequence`.

        Raises:
            ValueError: `sequence` is negative.
            OSError: The file cannot be written.
        """
        if sequence < 0:
            raise ValueError("a sequence is never negative")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(f"{sequence}\n")
                out.flush()
                if self._durable:
                    os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
