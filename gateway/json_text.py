"""JSON in and out of a webhook, every value exact: the body parsed, free-form JSON written back.

orjson does both fast, with two gaps this module closes: it turns an integer
over 64 bits into a float when parsing (such a body is parsed again by the
standard library, whose integers have no size limit), and it refuses to write
anything nested over 255 levels (the standard library writes up to Python's
recursion limit; past that the value is `TooDeep`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["InvalidJson", "TooDeep", "json_text", "parse_body"]

# A number of 19 digits or more may not fit in 64 bits, where orjson turns it
# into a float: such a body is parsed again by the standard library, exactly.
# Found as a run of 19 zeros once every digit is a zero: two C loops over the
# body, about 1.5 µs for a typical 1.4 KB webhook, where the regular
# expression `[0-9]{19}` took 23 µs. A run inside a string does not count:
# Google's account ids (`provider_user_id`) have 21 digits, so most users
# signed in with Google would otherwise be parsed twice (41 against 13 µs for
# a 3.4 KB `user.created`). In JSON, the digits of an integer follow one of
# `_BEFORE_INTEGER` or start the text; a run after anything else (a letter, a
# quote, a dot, an exponent's `e`) is in a string or a fraction or an
# exponent, which orjson already keeps as the standard library would (a
# string) or refuses (an exponent out of range).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
_BEFORE_INTEGER = frozenset(b":,[ \t\n\r-")
_NOT_ZERO = re.compile(rb"[^0]")


class InvalidJson(ValueError):
    """The body is not JSON this relay can keep exactly (the message says why)."""


class TooDeep(Exception):
    """Free-form JSON too deeply nested to write back as text (not a wrong-type error)."""


def parse_body(body: bytes) -> Any:
    """Parses a verified body, keeping every number exact.

    orjson parses almost every body; one with a number of 19 digits or more is
    parsed again by the standard library, whose integers have no size limit
    (orjson would have turned one over 64 bits into a float).

    Raises:
        InvalidJson: The body is not JSON, or not JSON that can be kept
            exactly (nested over 1,024 deep, a number out of a double's range
            (orjson's check, which also keeps integers under Python's 4,300-digit
            limit), an unpaired surrogate).
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidJson(f"invalid JSON: {error.msg}") from None
    if not _has_long_integer(body):
        return value
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidJson("invalid JSON: nested too deeply") from None


def _has_long_integer(body: bytes) -> bool:
    """Whether the body may hold an integer of 19 digits or more (see `_BEFORE_INTEGER`)."""
    zeros = body.translate(_DIGITS_TO_ZERO)
    start = zeros.find(_LONG_NUMBER)
    while start >= 0:
        if start == 0 or body[start - 1] in _BEFORE_INTEGER:
            return True
        after = _NOT_ZERO.search(zeros, start + len(_LONG_NUMBER))
        if after is None:
            return False
        start = zeros.find(_LONG_NUMBER, after.start())
    return False


def json_text(value: Any) -> str:
    """Free-form JSON written back as compact text, every number as it was parsed.

    Raises:
        TooDeep: It nests deeper than the serializers allow.
    """
    if value.__class__ is dict and not value:
        return "{}"
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested over 255 deep, or an integer over 64 bits
        pass
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise TooDeep() from None
