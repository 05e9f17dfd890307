"""Webhook signing secrets as a setting holds them: shared by the gateway and `trigger`."""

from __future__ import annotations

import re

__all__ = ["parse_secrets"]

_SECRET_SEPARATORS = re.compile(r"[\s,]+")


def parse_secrets(text: str) -> tuple[str, ...]:
    """Splits a list of signing secrets, as `CLERK_WEBHOOK_SIGNING_SECRET` may hold it.

    Args:
        text: Secrets separated by spaces, commas or both.

    Returns:
        The secrets in order, without empties or repeats.
    """
    return tuple(dict.fromkeys(s for s in _SECRET_SEPARATORS.split(text) if s))
