"""The CLI's failures: one clear line on stderr, a non-zero exit code, no stack trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import clerk_relay
from tests.processes import free_port, relay_env, running, serve


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_trigger_without_a_secret() -> None:
    env = relay_env()
    del env["CLERK_WEBHOOK_SIGNING_SECRET"]
    result = clerk_relay("trigger", "user.created", env=env)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith(
        "clerk-relay: no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET"
    )
    assert "--signing-secret" in line


def test_trigger_with_an_invalid_secret() -> None:
    result = clerk_relay("trigger", "user.created", "--signing-secret", "whsec_!!!")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "clerk-relay: --signing-secret: secret #1 is not a valid whsec_ secret"
    )


def test_trigger_an_unknown_event_type() -> None:
    result = clerk_relay("trigger", "user.craeted")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "clerk-relay: unknown event type 'user.craeted' (did you mean user.created?): "
        "run `clerk-relay trigger --list` to see the 46 types with a bundled example"
    )
    bare = clerk_relay("trigger")
    assert bare.returncode == 2
    assert "clerk-relay trigger user.created" in _one_line(bare.stderr)


def test_trigger_an_unreachable_gateway() -> None:
    port = free_port()
    result = clerk_relay("trigger", "user.created", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert _one_line(result.stderr).startswith(
        f"clerk-relay: cannot reach the gateway at http://127.0.0.1:{port}/webhooks/clerk "
        "(is `clerk-relay serve` running? see --url): "
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        ("tail",),
        ("tail", "--from-beginning", "--json"),
        ("get", "user", "u_1"),
        ("list", "users"),
    ],  # fmt: skip
)
def test_unreachable_grpc_service(command: tuple[str, ...]) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = clerk_relay(*command, "--target", target)
    assert result.returncode == 1
    assert _one_line(result.stderr).startswith(
        f"clerk-relay: cannot reach the clerk-relay gRPC service at {target} "
        "(is `clerk-relay serve` running? see --target): "
    )
    assert result.stdout == ""


def test_bad_pattern_and_refused_token(tmp_path: Path) -> None:
    relay = serve(tmp_path)
    relay.env = relay_env(CLERK_RELAY_TOKENS="right-token")
    with running(relay):
        env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target, CLERK_RELAY_TOKEN="right-token")
        pattern = clerk_relay("tail", "--types", "*.created", env=env)
        assert pattern.returncode == 2
        assert _one_line(pattern.stderr).startswith(
            "clerk-relay: invalid request: invalid event type pattern '*.created'"
        )
        refused = clerk_relay("tail", "--token", "wrong-token", env=env)
        assert refused.returncode == 1
        assert _one_line(refused.stderr).startswith(
            f"clerk-relay: the gRPC service at {relay.grpc_target} refused the request: "
        )
        assert _one_line(refused.stderr).endswith("(pass --token or set CLERK_RELAY_TOKEN)")
        allowed = clerk_relay("list", "users", env=env)
        assert allowed.returncode == 0, allowed.stderr
