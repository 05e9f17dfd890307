"""`CliError`: a problem the user can fix, printed by `clerk-relay` as one line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "CliError", "did_you_mean"]

EXIT_USAGE = 2
"""Bad flags or configuration (a missing secret, an unknown event type)."""

EXIT_FAILURE = 1
"""The command ran and failed (an unreachable server, a refused request)."""


class CliError(Exception):
    """A problem the user can fix; printed as one line, without a stack trace.

    Args:
        message: What went wrong and, when possible, what to do about it.
        exit_code: The process exit code (`EXIT_USAGE` by default).
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """` (did you mean user.created?)` for the closest of `known`, or "" when none is close."""
    close = difflib.get_close_matches(value, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
