"""The command line as a newcomer meets it: what it says, what it accepts, how it ends."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from clerkrelay.cli.settings import Target, grpc_target
from tests.cli.conftest import clerk_relay
from tests.cli.terminal import Terminal
from tests.processes import RelayProcess

DATA_ID = re.compile(r"data\.id=(\S+)")


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _trigger(
    relay: RelayProcess, env: dict[str, str], event_type: str, count: int = 1
) -> list[str]:
    result = clerk_relay(
        "trigger", event_type, "--count", str(count), "--url", relay.http_url, env=env
    )
    assert result.returncode == 0, result
    return DATA_ID.findall(result.stdout)


# -- tail ------------------------------------------------------------------------------


def test_tail_on_a_terminal_says_when_it_is_waiting(
    relay: RelayProcess, env: dict[str, str]
) -> None:
    tail = Terminal(["tail", "--types", "user.*"], env, stderr_too=False)
    try:
        assert tail.process.stderr is not None
        line = tail.process.stderr.readline().decode()
        assert line == (f"connected to {relay.grpc_target}, waiting for events (Ctrl-C to stop)\n")
        (user,) = _trigger(relay, env, "user.created")
        assert re.search(rf"#1\s+user\.created\s+{user}", tail.read_until(user))
        tail.process.send_signal(signal.SIGINT)
        assert tail.finish() == 130
        assert tail.process.stderr.read() == b""
    finally:
        tail.close()


def test_tail_into_a_pipe_prints_no_waiting_line(relay: RelayProcess, env: dict[str, str]) -> None:
    _trigger(relay, env, "user.created")
    result = clerk_relay("tail", "--from-beginning", "--count", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "user.created" in result.stdout


def test_tail_refuses_a_misspelt_type() -> None:
    result = clerk_relay("tail", "--types", "user.*", "user.craeted")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "clerk-relay: unknown event type 'user.craeted' (did you mean user.created?): "
        "name a type Clerk sends, a family such as 'user.*', or '*'"
    )


def test_tail_takes_known_types_and_patterns(relay: RelayProcess, env: dict[str, str]) -> None:
    _trigger(relay, env, "user.created")
    result = clerk_relay(
        "tail", "--from-beginning", "--until-caught-up",
        "--types", "user.created", "subscription.past_due", "session.*", "*", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "user.created" in result.stdout


# -- trigger -----------------------------------------------------------------------------


def test_no_request_log_over_triggers_progress_bar(
    relay: RelayProcess, env: dict[str, str]
) -> None:
    env = {**env, "CLERK_RELAY_LOG_LEVEL": "info"}
    trigger = Terminal(
        ["trigger", "user.created", "--count", "20", "--url", relay.http_url], env, stderr_too=True
    )
    try:
        assert trigger.finish() == 0
    finally:
        trigger.close()
    assert "sent 20 user.created webhooks" in trigger.seen
    assert "HTTP Request" not in trigger.seen
    assert "httpx" not in trigger.seen


# -- global flags, --target, kinds -------------------------------------------------------


def test_log_level_after_the_command(relay: RelayProcess, env: dict[str, str]) -> None:
    quiet = clerk_relay(
        "trigger", "user.created", "--url", relay.http_url, "--log-level", "info", env=env
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    loud = clerk_relay(
        "--log-level", "error", "trigger", "user.created", "--url", relay.http_url,
        "--log-level", "debug", env=env,
    )  # fmt: skip
    assert loud.returncode == 0, loud.stderr
    assert "DEBUG" in loud.stderr and "httpx" in loud.stderr
    bad = clerk_relay("list", "users", "--log-level", "loud")
    assert bad.returncode == 2
    assert _one_line(bad.stderr).startswith("clerk-relay: --log-level: not a log level: 'loud'")


@pytest.mark.parametrize(
    ("value", "address", "tls"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051", False),
        ("http://127.0.0.1:50051", "127.0.0.1:50051", False),
        ("grpc://relay.internal:50051/", "relay.internal:50051", False),
        ("https://relay.example.com", "relay.example.com:443", True),
        ("HTTPS://[::1]:8443", "[::1]:8443", True),
        ("https://[::1]", "[::1]:443", True),
    ],
)
def test_target_forms(value: str, address: str, tls: bool) -> None:
    target = grpc_target(value)
    assert isinstance(target, Target)
    assert (str(target), target.tls) == (address, tls)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://host:1", "unsupported scheme in 'ftp://host:1'"),
        ("http://host:1/path", "a gRPC target is a host and a port, with no path"),
        ("http://host", "not a host:port address: 'host'"),
    ],
)
def test_target_forms_refused(value: str, message: str) -> None:
    result = clerk_relay("list", "users", "--target", value)
    assert result.returncode == 2
    assert _one_line(result.stderr).startswith(f"clerk-relay: --target: {message}")


def test_target_as_a_url(relay: RelayProcess, env: dict[str, str]) -> None:
    (user,) = _trigger(relay, env, "user.created")
    for scheme in ("http", "grpc"):
        result = clerk_relay("get", "user", user, "--target", f"{scheme}://{relay.grpc_target}")
        assert result.returncode == 0, result.stderr
        assert user in result.stdout
    # https:// means TLS, which this plaintext relay does not speak.
    tls = clerk_relay("get", "user", user, "--target", f"https://{relay.grpc_target}")
    assert tls.returncode == 1
    assert _one_line(tls.stderr).startswith(  # and no line of gRPC's C core
        f"clerk-relay: cannot reach the clerk-relay gRPC service at {relay.grpc_target} "
    )


def test_get_and_list_take_either_number(relay: RelayProcess, env: dict[str, str]) -> None:
    (user,) = _trigger(relay, env, "user.created")
    for kind in ("user", "users"):
        got = clerk_relay("get", kind, user, env=env)
        assert got.returncode == 0, got.stderr
        assert user in got.stdout
        listed = clerk_relay("list", kind, env=env)
        assert listed.returncode == 0, listed.stderr
        assert user in listed.stdout
    member = clerk_relay("list", "membership", env=env)
    assert member.returncode == 0, member.stderr
    unknown = clerk_relay("get", "usr", user, env=env)
    assert unknown.returncode == 2


# -- a reader that goes away -----------------------------------------------------------


def test_list_into_head_ends_quietly(relay: RelayProcess, env: dict[str, str]) -> None:
    _trigger(relay, env, "user.created", 150)  # more than a pipe's buffer holds
    command = f"{sys.executable} -m clerkrelay.cli list users --page-size 10"
    result = subprocess.run(
        ["bash", "-c", f'{command} | head -1; echo "exit=${{PIPESTATUS[0]}}" >&2'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith('{"user":')
    assert result.stderr == "exit=0\n"


def test_grpc_core_logs_only_when_asked(relay: RelayProcess, env: dict[str, str]) -> None:
    target = f"https://{relay.grpc_target}"  # a TLS handshake that fails: the C core logs it
    quiet = clerk_relay("list", "users", "--target", target, env=env)
    assert quiet.returncode == 1
    assert _one_line(quiet.stderr).startswith("clerk-relay: cannot reach")
    asked = clerk_relay("list", "users", "--target", target, env={**env, "GRPC_VERBOSITY": "info"})
    assert asked.returncode == 1
    assert "Handshake failed" in asked.stderr
