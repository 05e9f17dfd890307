"""Every setting of `clerk-relay`, declared once: flag, variable, default, parser and help.

A `Setting` feeds argparse (its flags and `--help` line), the resolution of a
value (the flag, else the environment variable, else the default) and the
README's configuration table. Parsing is the setting's own: a bad value,
from a flag or a variable, becomes one line naming the setting (`CliError`,
exit 2), never a traceback or argparse's two-line usage error.

This module holds the client commands' settings and the parsers; the server
commands' settings (`relay.settings`) are declared with the same `Setting`,
and `relay.settings.SETTINGS` is the whole table.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clerkrelay.cli.cli_error import CliError
from clerkrelay.client import DEFAULT_TARGET
from clerkrelay.webhook_secrets import parse_secrets

__all__ = [
    "GRPC_TARGET",
    "HTTP_ADDR",
    "LOG_LEVEL",
    "SETTINGS",
    "SIGNING_SECRET",
    "TLS",
    "TLS_CA",
    "TLS_SERVER_NAME",
    "TOKEN",
    "Setting",
    "Target",
    "add_flags",
    "count",
    "duration",
    "file_bytes",
    "grpc_target",
    "host_port",
    "int_between",
    "log_level",
    "non_negative_int",
    "parse_duration",
    "path",
    "resolve",
    "signing_secrets",
    "text",
]

_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


# -- parsers: text → value, or ValueError with a message that does not repeat the name ----


def text(value: str) -> str:
    """Any text."""
    return value


def parse_duration(value: str) -> float:
    """Seconds in a duration such as `90`, `90s`, `15m`, `12h`, `7d` or `2w`.

    Raises:
        ValueError: The text is not a non-negative number with an optional unit.
    """
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value.lower())
    if found is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 12h, 7d)")
    return float(found[1]) * _UNITS_S[found[2]]


def duration(value: str) -> float:
    """A positive duration (`parse_duration`)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than zero (got {value!r})")
    return seconds


def _whole(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"not a whole number: {value!r}")
    return int(value)


def count(value: str) -> int:
    """A whole number of at least 1 (ASCII digits only)."""
    number = _whole(value)
    if number < 1:
        raise ValueError(f"must be at least 1 (got {value!r})")
    return number


def non_negative_int(value: str) -> int:
    """A whole number of at least 0 (ASCII digits only)."""
    return _whole(value)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A parser of whole numbers from `low` to `high`."""

    def parse(value: str) -> int:
        number = _whole(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high} (got {value!r})")
        return number

    return parse


def host_port(value: str) -> str:
    """`host:port` (IPv6 hosts may be bracketed; port 0 picks a free one)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not a host:port address: {value!r}")
    return value


class Target(str):
    """A gRPC target, `host:port`; `tls` is set when it was given as an `https://` URL."""

    tls: bool = False


_TARGET_SCHEMES = {"http": False, "grpc": False, "https": True, "grpcs": True}
"""The URL schemes a gRPC target may be written with, and whether each means TLS."""


def grpc_target(value: str) -> Target:
    """`host:port`, or that as a URL: `http://` or `grpc://`, or `https://` (TLS; port 443)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return Target(host_port(value))
    tls = _TARGET_SCHEMES.get(scheme.lower())
    if tls is None:
        raise ValueError(
            f"unsupported scheme in {value!r}: use host:port, http://, grpc:// or https://"
        )
    address = rest.removesuffix("/")
    if not address or "/" in address:
        raise ValueError(f"a gRPC target is a host and a port, with no path: {value!r}")
    if tls and (address.endswith("]") or ":" not in address):  # no port
        address += ":443"
    target = Target(host_port(address))
    target.tls = tls
    return target


def path(value: str) -> Path:
    """A file's path."""
    return Path(value)


def file_bytes(value: str) -> bytes:
    """The contents of a file (a CA certificate)."""
    try:
        return Path(value).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {value!r}: {error.strerror or error}") from None


def signing_secrets(value: str) -> tuple[str, ...]:
    """Webhook signing secrets (`whsec_<base64>`), separated by spaces or commas."""
    found = parse_secrets(value)
    for position, secret in enumerate(found, start=1):
        try:
            # As svix reads it: unpadded base64 is fine, and so are stray characters.
            decoded = base64.b64decode(secret.removeprefix("whsec_") + "==")
        except binascii.Error:
            decoded = b""
        if not decoded:
            raise ValueError(f"secret #{position} is not a valid whsec_ secret")
    return found


def log_level(value: str) -> str:
    """A logging level: debug, info, warning or error (any case)."""
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"not a log level: {value!r} (use debug, info, warning or error)")
    return level


# -- the setting ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: where it comes from, how it is read, and what it means.

    Attributes:
        name: Its key in `resolve`'s result, and its argparse `dest`.
        flags: Its flags, the first the main one (empty: a variable only).
        env: Its environment variable (None: a flag only).
        parse: Text → value; raises ValueError (the message need not name the setting).
        default: The value when neither the flag nor the variable is set.
        help: What it means, for `--help` and the README.
        shown_default: The default as `--help` and the README show it ("" for none).
        metavar: The flag's value placeholder.
        repeat: The flag may be repeated; each value is parsed, and the tuples joined.
        switch: A flag without a value (`store_true`); its value is a bool.
    """

    name: str
    flags: tuple[str, ...]
    env: str | None
    parse: Callable[[str], Any]
    default: Any
    help: str
    shown_default: str = ""
    metavar: str | None = None
    repeat: bool = False
    switch: bool = False

    @property
    def label(self) -> str:
        """How an error message names it: its main flag, else its variable."""
        return self.flags[0] if self.flags else str(self.env)

    def help_line(self) -> str:
        """The `--help` text: meaning, default and variable."""
        line = self.help
        if self.shown_default:
            line += f" (default {self.shown_default})"
        if self.env:
            line += f" [{self.env}]"
        return line.replace("%", "%%")

    def add_to(self, parser: argparse.ArgumentParser | Any) -> None:
        """Adds its flags to a parser or an argument group."""
        if not self.flags:
            return
        if self.switch:
            parser.add_argument(
                *self.flags, dest=self.name, action="store_true", help=self.help_line()
            )
            return
        parser.add_argument(
            *self.flags,
            dest=self.name,
            action="append" if self.repeat else "store",
            default=None,
            metavar=self.metavar,
            help=self.help_line(),
        )

    def _parsed(self, value: str, source: str) -> Any:
        try:
            return self.parse(value)
        except (ValueError, TypeError) as error:
            message = " ".join(str(error).split()) or "invalid value"
            raise CliError(f"{source}: {message}") from None

    def value(self, args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
        """The flag's value, else the variable's, else the default.

        Raises:
            CliError: The value is malformed (one line, naming the flag or variable).
        """
        given = getattr(args, self.name, None) if self.flags else None
        if self.switch:
            return bool(given)
        if self.repeat and given:
            joined: tuple[Any, ...] = ()
            for each in given:
                if each.strip():
                    joined += tuple(self._parsed(each.strip(), self.flags[0]))
            if joined:
                return joined
        elif isinstance(given, str) and given.strip():
            return self._parsed(given.strip(), self.flags[0])
        if self.env:
            found = environ.get(self.env, "").strip()
            if found:
                return self._parsed(found, self.env)
        return self.default


def add_flags(parser: argparse.ArgumentParser | Any, settings: Iterable[Setting]) -> None:
    """Adds the flags of `settings` to a parser or an argument group."""
    for setting in settings:
        setting.add_to(parser)


def resolve(
    settings: Iterable[Setting], args: argparse.Namespace, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Every setting's value, by name.

    Raises:
        CliError: A value is malformed (one line, naming the setting; exit 2).
    """
    return {setting.name: setting.value(args, environ) for setting in settings}


# -- the client commands' settings ----------------------------------------------------------

LOG_LEVEL = Setting(
    "log_level",
    ("--log-level",),
    "CLERK_RELAY_LOG_LEVEL",
    log_level,
    "INFO",
    "debug, info, warning, error; one logfmt line per webhook at info",
    shown_default="info",
    metavar="LEVEL",
)
GRPC_TARGET = Setting(
    "grpc_target",
    ("--target", "--grpc-target"),
    "CLERK_RELAY_GRPC_TARGET",
    grpc_target,
    DEFAULT_TARGET,
    "the gRPC service that a split gateway publishes to, and that tail, get and list read; "
    "host:port, or a URL of it (https:// turns TLS on)",
    shown_default=DEFAULT_TARGET,
    metavar="HOST:PORT",
)
TOKEN = Setting(
    "token",
    ("--token",),
    "CLERK_RELAY_TOKEN",
    text,
    None,
    "bearer token sent to the gRPC service (an ingest token for a gateway)",
    metavar="TOKEN",
)
TLS = Setting(
    "tls",
    ("--tls",),
    None,
    text,
    False,
    "clients: use TLS to reach the gRPC service, verified with the system's CA certificates",
    switch=True,
)
TLS_CA = Setting(
    "tls_ca",
    ("--tls-ca",),
    "CLERK_RELAY_TLS_CA",
    file_bytes,
    None,
    "CA certificate (PEM) to verify the gRPC service with (clients: implies --tls)",
    metavar="FILE",
)
TLS_SERVER_NAME = Setting(
    "tls_server_name",
    ("--tls-server-name",),
    None,
    text,
    None,
    "clients: the name the gRPC service's certificate is issued to, if not its host",
    metavar="NAME",
)
SIGNING_SECRET = Setting(
    "signing_secret",
    ("--signing-secret",),
    "CLERK_WEBHOOK_SIGNING_SECRET",
    signing_secrets,
    (),
    "Clerk's webhook signing secrets (whsec_…), space- or comma-separated, or the flag "
    "repeated, for rotation; required (serve --dev generates one); trigger signs with "
    "the first",
    metavar="SECRET",
    repeat=True,
)
HTTP_ADDR = Setting(
    "http_addr",
    ("--http-addr",),
    "CLERK_RELAY_HTTP_ADDR",
    host_port,
    "127.0.0.1:8080",
    "where the webhook gateway listens (trigger posts there without --url)",
    shown_default="127.0.0.1:8080",
    metavar="HOST:PORT",
)

SETTINGS: tuple[Setting, ...] = (
    LOG_LEVEL,
    GRPC_TARGET,
    TOKEN,
    TLS,
    TLS_CA,
    TLS_SERVER_NAME,
    SIGNING_SECRET,
    HTTP_ADDR,
)
"""The client commands' settings (some of which the server commands share)."""
