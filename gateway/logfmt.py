"""logfmt values: `key=value` log fields, quoted only when they must be."""

from __future__ import annotations

import json
import re

__all__ = ["logfmt_value"]

# Printable ASCII except space, `"`, `=` and `\`: such a value needs no quotes.
_BARE = re.compile(r"[!#-<>-\[\]-~]+")


def logfmt_value(value: str, limit: int = 200) -> str:
    """Formats one value for a logfmt line.

    Values that are empty or hold spaces, quotes, `=`, backslashes, control or
    non-ASCII characters are double-quoted with JSON escapes, so a value taken
    from a request (an unverified header) can never forge another field or line.

    Args:
        value: The value.
        limit: Longer values are cut to this many characters (and marked `…`).

    Returns:
        The value, ready to follow `key=`.
    """
    if len(value) > limit:
        value = value[:limit] + "…"
    if _BARE.fullmatch(value):
        return value
    return json.dumps(value)
