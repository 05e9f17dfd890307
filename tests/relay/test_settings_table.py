"""Every setting is declared once, and shows in `--help`, in the README, and in its errors.

- Each command's `--help` names every setting it takes (flags, and the variable).
- The README's configuration table is the table (`relay.settings.SETTINGS`).
- A bad value of any setting, from its flag or its variable, is exactly one
  line on stderr naming the setting, and exit code 2.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from clerkrelay.cli import main as cli_main
from clerkrelay.cli.client_flags import CONNECTION
from clerkrelay.cli.logs import LOG_FORMAT
from clerkrelay.cli.settings import HTTP_ADDR, LOG_LEVEL, SIGNING_SECRET, Setting
from relay import settings as table
from relay.settings import GATEWAY, GRPC, SERVE, SETTINGS, markdown_table
from tests.processes import ROOT, relay_env

TAKEN_BY: dict[str, tuple[Setting, ...]] = {
    "grpc": GRPC,
    "gateway": GATEWAY,
    "serve": SERVE,
    "tail": CONNECTION,
    "get": CONNECTION,
    "list": CONNECTION,
    "reconcile": CONNECTION,
    "trigger": (SIGNING_SECRET,),
}
"""The settings each command takes, besides `GLOBAL`.

A bad value is tried with the first command here that takes the setting."""

GLOBAL = (LOG_LEVEL, LOG_FORMAT)
"""Every command takes these, before or after its name."""


def _help(command: str | None) -> str:
    parser = cli_main._parser(cli_main._server_flags())
    if command is None:
        text = parser.format_help()
    else:
        commands = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        ).choices
        text = commands[command].format_help()
    return " ".join(text.split())


def test_every_setting_is_declared_once() -> None:
    assert len(set(SETTINGS)) == len(SETTINGS)
    names = [s.name for s in SETTINGS]
    assert len(set(names)) == len(names)
    flags = [flag for s in SETTINGS for flag in s.flags]
    assert len(set(flags)) == len(flags)
    variables = [s.env for s in SETTINGS if s.env]
    assert len(set(variables)) == len(variables)
    for s in SETTINGS:
        assert s.flags or s.env, s.name


def test_every_setting_is_taken_by_a_command() -> None:
    taken = {s for settings in TAKEN_BY.values() for s in settings} | {*GLOBAL, HTTP_ADDR}
    assert taken == set(SETTINGS)


@pytest.mark.parametrize("command", [None, *TAKEN_BY])
def test_help_names_every_setting_of_the_command(command: str | None) -> None:
    text = _help(command)
    settings = GLOBAL if command is None else TAKEN_BY[command]
    for setting in settings:
        for flag in setting.flags:
            assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", text), (command, flag)
        if setting.env:
            assert setting.env in text, (command, setting.env)


def test_trigger_help_names_the_gateway_address_variable() -> None:
    assert HTTP_ADDR.env is not None and HTTP_ADDR.env in _help("trigger")


def _readme_table() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| flag | variable | default | meaning |")
    lines = readme[start:].split("\n\n", 1)[0].splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_the_readme_table_is_the_registry() -> None:
    rows = _readme_table()
    assert len(rows) == len(SETTINGS)
    for row, setting in zip(rows, SETTINGS, strict=True):
        flags, variable, _, meaning = row
        assert re.findall(r"`(--[a-z-]+)`", flags) == list(setting.flags)
        assert variable == (f"`{setting.env}`" if setting.env else "")
        assert meaning == setting.help
    assert "| flag | variable | default | meaning |" in markdown_table()
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme + "\n", "regenerate it: relay.settings.markdown_table()"


BAD: dict[str, str] = {
    "signing_secret": "whsec_",
    "http_addr": "nohost",
    "grpc_addr": "nohost",
    "database_url": "mysql://relay@db/relay",
    "tolerance": "5m",
    "max_body_bytes": "0",
    "tokens_file": "/nonexistent/tokens",
    "tls_cert": "/etc/relay/cert.pem",  # without the key
    "tls_key": "/etc/relay/key.pem",  # without the certificate
    "heartbeat_interval": "often",
    "live_buffer": "0",
    "retention_max_age": "soon",
    "retention_max_count": "-5",
    "clerk_secret_key": "pk_live_not_a_secret_key",
    "clerk_api_url": "api.clerk.com",
    "reconcile_interval": "daily",
    "reconcile_budget_share": "0",
    "reconcile_max_delete_share": "1.5",
    "ops_addr": "nohost",
    "grpc_target": "nohost",
    "tls_ca": "/nonexistent/ca.pem",
    "log_level": "loud",
    "log_format": "xml",
}
"""A bad value of each setting that can have one."""

ANY_TEXT = {"token", "tokens", "ingest_tokens", "admin_tokens", "tls_server_name", "tls", "dev"}
"""Settings every value of which is good: tokens, names, and switches."""


def test_every_setting_has_a_bad_value_or_none() -> None:
    assert set(BAD) | ANY_TEXT == {s.name for s in SETTINGS}
    assert not set(BAD) & ANY_TEXT


def _command_of(setting: Setting) -> str:
    return next(command for command, taken in TAKEN_BY.items() if setting in taken)


def _cases() -> list[tuple[Setting, str]]:
    cases = []
    for setting in SETTINGS:
        if setting.name not in BAD:
            continue
        if setting.flags:
            cases.append((setting, "flag"))
        if setting.env:
            cases.append((setting, "variable"))
    return cases


@pytest.mark.parametrize(
    ("setting", "source"), _cases(), ids=[f"{s.name}-{src}" for s, src in _cases()]
)
def test_a_bad_value_is_one_line_and_exit_2(
    setting: Setting, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = BAD[setting.name]
    if setting in GLOBAL:
        argv = ["tail"]
    else:
        argv = [_command_of(setting)]
        if argv == ["list"] or argv == ["get"]:
            argv.append("users")
    environ: dict[str, str] = {}
    if source == "flag":
        argv = (
            [setting.flags[0], bad, *argv] if setting in GLOBAL else [*argv, setting.flags[0], bad]
        )
    else:
        assert setting.env is not None
        environ[setting.env] = bad

    assert cli_main.main(argv, environ) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    named = (
        setting.flags[0]
        if source == "flag" or setting in (table.TLS_CERT, table.TLS_KEY)
        else setting.env
    )
    assert lines[0].startswith("clerk-relay: ") and str(named) in lines[0], lines[0]


def test_a_bad_tolerance_variable_does_not_crash_serve() -> None:
    """The bug that started it: `CLERK_RELAY_TIMESTAMP_TOLERANCE=5m clerk-relay serve`."""
    result = subprocess.run(
        [sys.executable, "-m", "clerkrelay.cli", "serve"],
        env=relay_env(CLERK_RELAY_TIMESTAMP_TOLERANCE="5m"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "clerk-relay: CLERK_RELAY_TIMESTAMP_TOLERANCE: not a whole number: '5m'"
    ]
