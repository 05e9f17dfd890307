"""Why a Backend API listing failed: the errors `ClerkApi` raises.

Each says what an operator can act on, and none carries the secret key: a key
is named by `key_hint` only (`sk_live_AbCd…`), which is also what the relay's
log may show.

| error                | when                                                          |
|----------------------|---------------------------------------------------------------|
| `BadKey`             | 401 or 403: Clerk refuses the key                             |
| `ApiUnavailable`     | 5xx, a network error or 429 beyond the retries                |
| `RequestRejected`    | any other 4xx: the request itself is wrong                    |
| `UnexpectedResponse` | a 2xx whose body is not the list the spec describes           |
"""

from __future__ import annotations

__all__ = [
    "ApiUnavailable",
    "BadKey",
    "ClerkApiError",
    "RequestRejected",
    "UnexpectedResponse",
    "key_hint",
]

_KEY_PREFIXES = ("sk_live_", "sk_test_")
_HINT_CHARACTERS = 4
# A key this short after its prefix would be given away by the hint: show the prefix only.
_SHORTEST_HINTED = 16


def key_hint(secret_key: str) -> str:
    """What a message may show of a secret key: its prefix and at most 4 characters more.

    `sk_live_AbCd…` for a real-looking key; `sk_live_…` when the key is too
    short to show any of it; a description, not characters, when the key has
    neither prefix.
    """
    for prefix in _KEY_PREFIXES:
        if secret_key.startswith(prefix):
            rest = secret_key[len(prefix) :]
            shown = rest[:_HINT_CHARACTERS] if len(rest) >= _SHORTEST_HINTED else ""
            return f"{prefix}{shown}…"
    return "a key without the sk_live_/sk_test_ prefix"


class ClerkApiError(Exception):
    """A Backend API listing could not be completed.

    Args:
        message: The reason, fit for a log line and an operator.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadKey(ClerkApiError):
    """Clerk refused the secret key (401 or 403).

    Args:
        secret_key: The key; the message names only its `key_hint`.
        status: The HTTP status Clerk answered.
        path: The path that was refused.
    """

    def __init__(self, secret_key: str, status: int, path: str) -> None:
        verb = "rejected" if status == 401 else "denied access to"
        super().__init__(
            f"Clerk's Backend API {verb} the secret key {key_hint(secret_key)} "
            f"(HTTP {status} on GET {path}): check CLERK_SECRET_KEY"
        )
        self.status = status
        self.path = path


class ApiUnavailable(ClerkApiError):
    """The Backend API did not answer usefully within the retries (5xx, network, 429)."""


class RequestRejected(ClerkApiError):
    """Clerk answered a 4xx other than 401/403/429: retrying the same request cannot help.

    Args:
        status: The HTTP status.
        path: The request's path.
        detail: Clerk's error code and message, when its body had them.
    """

    def __init__(self, status: int, path: str, detail: str) -> None:
        super().__init__(f"Clerk's Backend API answered HTTP {status} to GET {path}: {detail}")
        self.status = status
        self.path = path


class UnexpectedResponse(ClerkApiError):
    """A successful answer whose body is not the list Clerk's spec describes."""
