"""`clerk-relay serve` as a newcomer meets it: the banner, the dev secret, a busy port, logs."""

from __future__ import annotations

import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.commands import this_command
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess, free_port, relay_env, serve

SECRET = re.compile(
    r"^  secret    (whsec_\S+)   \(--dev: kept in (\S+); for local testing only\)$", re.M
)
SCRIPT = Path(sys.executable).parent / "clerk-relay"


def _dev_env(**overrides: str) -> dict[str, str]:
    env = relay_env(**overrides)
    del env["CLERK_WEBHOOK_SIGNING_SECRET"]
    return env


def _banner(relay: RelayProcess) -> str:
    """The banner, once printed in full (the process is ready by then)."""
    deadline = time.monotonic() + 20
    while "--from-beginning" not in relay.log.read_text():
        assert time.monotonic() < deadline, relay.log.read_text()
        time.sleep(0.05)
    return relay.log.read_text()


def _dev_serve(tmp_path: Path, launcher: list[str] | None = None) -> RelayProcess:
    relay = serve(tmp_path, None, "--dev")
    relay.env = _dev_env()
    if launcher is not None:
        relay.launch = _launch_with(relay, launcher)  # type: ignore[method-assign]
    return relay


def _launch_with(relay: RelayProcess, launcher: list[str]) -> Callable[[], RelayProcess]:
    def launch() -> RelayProcess:
        with relay.log.open("ab") as out:
            relay.process = subprocess.Popen(
                [*launcher, relay.command, *relay.args],
                env=relay.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return relay

    return launch


@pytest.mark.parametrize("how", ["module", "script"])
def test_banner_commands_run_as_printed(
    tmp_path: Path, started: list[RelayProcess], how: str
) -> None:
    if how == "script" and not SCRIPT.exists():
        pytest.skip(f"no {SCRIPT}")
    launcher = [str(SCRIPT)] if how == "script" else None
    relay = _dev_serve(tmp_path, launcher)
    started.append(relay.start())
    banner = _banner(relay)
    trigger_line, tail_line = banner.split("\ntry:\n", 1)[1].splitlines()[:2]
    expected = (
        shlex.quote(str(SCRIPT)) if how == "script" else f"{sys.executable} -m clerkrelay.cli"
    )
    assert f" {expected} trigger user.created --url {relay.http_url}" in trigger_line
    assert tail_line == (
        f"  {expected} tail --types 'user.*' --from-beginning --target {relay.grpc_target}"
    )
    # A shell elsewhere, with no secret set: the lines run exactly as printed.
    env = _dev_env()
    triggered = subprocess.run(
        ["bash", "-c", trigger_line], env=env, cwd="/", capture_output=True, text=True, timeout=30
    )
    assert triggered.returncode == 0, triggered.stderr
    assert triggered.stdout.startswith("HTTP 200  user.created  ")
    tail = subprocess.Popen(
        ["bash", "-c", f"exec {tail_line}"], env=env, cwd="/", stdout=subprocess.PIPE
    )
    try:
        assert tail.stdout is not None
        assert re.search(r"#1\s+user\.created\s+user_", tail.stdout.readline().decode())
    finally:
        tail.kill()
        tail.wait()
        if tail.stdout is not None:
            tail.stdout.close()


def test_this_command_names_the_running_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "bin" / "clerk-relay"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "serve"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert this_command() == str(script)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert this_command() == "clerk-relay"


def test_dev_secret_survives_a_restart(tmp_path: Path, started: list[RelayProcess]) -> None:
    secrets: list[str] = []
    for _ in range(2):
        relay = _dev_serve(tmp_path)
        started.append(relay.start())
        found = SECRET.search(_banner(relay))
        assert found is not None, relay.log.read_text()
        assert found[2] == str(tmp_path / "dev-webhook-secret")
        secrets.append(found[1])
        # trigger without a secret signs with the one kept beside the relay's database.
        env = _dev_env(CLERK_RELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'relay.db'}")
        result = clerk_relay("trigger", "user.created", "--url", relay.http_url, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("HTTP 200")
        assert relay.stop() == 0
        relay.log.unlink()
    assert secrets[0] == secrets[1]
    kept = tmp_path / "dev-webhook-secret"
    assert kept.read_text() == secrets[0] + "\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_trigger_with_another_secret_says_so(tmp_path: Path, started: list[RelayProcess]) -> None:
    relay = _dev_serve(tmp_path)
    started.append(relay.start())
    result = clerk_relay("trigger", "user.created", "--url", relay.http_url)  # the test secret
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP 401")
    assert result.stderr == (
        "clerk-relay: 1 of 1 webhooks were not accepted: the relay's signing secret differs "
        "from the one trigger used (from CLERK_WEBHOOK_SIGNING_SECRET); use the one the relay "
        "verifies with (`serve --dev` prints it): set CLERK_WEBHOOK_SIGNING_SECRET or pass "
        "--signing-secret\n"
    )


@pytest.mark.parametrize("side", ["http", "grpc"])
def test_busy_port_is_one_line(tmp_path: Path, side: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"http": free_port(), "grpc": free_port(), side: port}
        result = clerk_relay(
            "serve", "--http-addr", f"127.0.0.1:{ports['http']}",
            "--grpc-addr", f"127.0.0.1:{ports['grpc']}",
            "--database-url", f"sqlite:///{tmp_path / 'relay.db'}",
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Event loop is closed" not in result.stderr
    assert result.stderr.startswith(f"clerk-relay: cannot listen on 127.0.0.1:{port}: ")
    assert result.stderr.count("\n") == 1, result.stderr
    if side == "http":
        assert "address already in use" in result.stderr


def test_invalid_http_request_is_logged_like_the_relay(
    tmp_path: Path, started: list[RelayProcess]
) -> None:
    relay = serve(tmp_path)
    started.append(relay.start())
    with socket.create_connection(("127.0.0.1", relay.http_port or 0), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400 ")
    assert relay.stop() == 0
    lines = [line for line in relay.log.read_text().splitlines() if "Invalid HTTP" in line]
    assert len(lines) == 1, relay.log.read_text()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING uvicorn\.error "
        r"Invalid HTTP request received\.",
        lines[0],
    ), lines


def test_dev_secret_file_is_beside_the_default_database() -> None:
    from clerkrelay.cli.dev_secret import DEFAULT_DATABASE_URL, dev_secret_file
    from service.storage import DEFAULT_DATABASE_URL as RELAY_DEFAULT

    assert DEFAULT_DATABASE_URL == RELAY_DEFAULT
    assert dev_secret_file(None) == Path("dev-webhook-secret")
    assert dev_secret_file("postgresql://relay@db/relay") is None
    assert os.sep not in str(dev_secret_file("sqlite:///x.db"))
