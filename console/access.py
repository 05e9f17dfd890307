"""Who may open the console: with authentication on, only a holder of an admin token.

With no token configured (authentication off), the console is open to
whoever reaches the operations listener, which listens on loopback unless
told otherwise: the gRPC API is open to them too. With tokens, a request
needs an admin token, given either as `Authorization: Bearer <token>` or by
logging in: the login form posts the token once, and the answer sets an
HttpOnly, SameSite=Strict cookie holding an HMAC of it under a key made when
the process started (never the token itself; a restart logs everyone out).

No credential, or one that is not a known token: 401. A known token without
the admin role: 403.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from starlette.requests import Request

from service.auth import AuthInterceptor, Role

__all__ = ["COOKIE_NAME", "Access", "Verdict"]

COOKIE_NAME = "clerk_relay_console"


class Verdict(enum.Enum):
    """What a request's credential allows."""

    ALLOWED = "allowed"
    MISSING = "missing"  # no credential, or an unknown one: 401
    FORBIDDEN = "forbidden"  # a known token without the admin role: 403


class Access:
    """Checks console requests against the relay's tokens.

    Args:
        tokens: The gRPC side's tokens and roles; empty means authentication off.
    """

    __slots__ = ("_key", "_sessions", "_tokens")

    def __init__(self, tokens: Mapping[str, Role]) -> None:
        self._tokens = AuthInterceptor(tokens)
        self._key = secrets.token_bytes(32)
        self._sessions = tuple(
            self._session_of(token) for token, role in tokens.items() if role is Role.ADMIN
        )

    @property
    def enabled(self) -> bool:
        """A credential is required."""
        return self._tokens.auth_enabled

    def _session_of(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def check_token(self, token: str) -> Verdict:
        """What a presented token allows."""
        role = self._tokens.role_of(f"Bearer {token}") if token and " " not in token else None
        if role is None:
            return Verdict.MISSING
        return Verdict.ALLOWED if role is Role.ADMIN else Verdict.FORBIDDEN

    def check(self, request: Request) -> Verdict:
        """What a request's bearer header or session cookie allows."""
        if not self.enabled:
            return Verdict.ALLOWED
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() == "bearer":
                return self.check_token(token.strip())
            return Verdict.MISSING
        cookie = request.cookies.get(COOKIE_NAME, "")
        found = False
        for session in self._sessions:  # no early exit: the same time for every token
            if hmac.compare_digest(cookie.encode(), session.encode()):
                found = True
        return Verdict.ALLOWED if found else Verdict.MISSING

    def session_for(self, token: str) -> str:
        """The cookie value for an admin token (after `check_token` allowed it)."""
        return self._session_of(token)
