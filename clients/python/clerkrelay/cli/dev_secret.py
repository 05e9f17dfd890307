"""The signing secret of `serve --dev`, kept beside the SQLite database: it outlives restarts.

`serve --dev` without a configured secret uses the one in
`<database directory>/dev-webhook-secret` (mode 0600), and creates it the first
time. `trigger` without a configured secret signs with the same file, found
through CLERK_RELAY_DATABASE_URL (default `sqlite:///./clerk-relay.db`, as the
relay's). A PostgreSQL database has no directory: `serve --dev` over one
generates a secret for that run only.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "DEV_SECRET_FILE",
    "dev_secret_file",
    "keep_dev_secret",
    "new_secret",
    "read_dev_secret",
]

DEFAULT_DATABASE_URL = "sqlite:///./clerk-relay.db"
"""The relay's default store (`service.storage.DEFAULT_DATABASE_URL`, which a test pins)."""

DATABASE_URL_ENV = "CLERK_RELAY_DATABASE_URL"
"""The relay's database URL variable, where `trigger` looks for the dev secret's directory."""

DEV_SECRET_FILE = "dev-webhook-secret"
"""The dev secret's file name, in the SQLite database's directory."""


def new_secret() -> str:
    """A fresh random `whsec_` secret (32 bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def dev_secret_file(database_url: str | None) -> Path | None:
    """Where the dev secret of the database at `database_url` is kept; None for PostgreSQL."""
    url = database_url or DEFAULT_DATABASE_URL
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///")).parent / DEV_SECRET_FILE


def read_dev_secret(environ: Mapping[str, str]) -> tuple[str, Path] | None:
    """The dev secret of the relay's database (from `environ`) and its file; None if there is none.

    Raises:
        OSError: The file exists but cannot be read.
    """
    path = dev_secret_file(environ.get(DATABASE_URL_ENV, "").strip())
    if path is None:
        return None
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        return None
    return (secret, path) if secret else None


def keep_dev_secret(path: Path) -> tuple[str, bool]:
    """The secret in `path`, created (mode 0600) with a new one when it does not exist yet.

    Returns:
        The secret, and whether it was created now.

    Raises:
        OSError: The file cannot be read or created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        kept = path.read_text().strip()
        if kept:
            return kept, False
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # an empty file: a crash mid-write
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret, True
