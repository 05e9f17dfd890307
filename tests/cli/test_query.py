"""`clerk-relay get` and `clerk-relay list` against a live relay."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from clerkrelay.cli.samples import sample
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess, relay_env, running, serve
from tests.service.test_auth import self_signed

ORGANIZATION = sample("organizationMembership.created")["data"]["organization"]["id"]


def test_get_and_list(relay: RelayProcess, env: dict[str, str]) -> None:
    triggered = clerk_relay(
        "trigger", "organizationMembership.created", "--count", "3", "--url", relay.http_url,
        env=env,
    )  # fmt: skip
    assert triggered.returncode == 0, triggered.stderr
    ids = sorted(re.findall(r"data\.id=(orgmem_\w+)", triggered.stdout))
    assert len(ids) == 3

    listed = clerk_relay("list", "memberships", "--organization", ORGANIZATION, env=env)
    assert listed.returncode == 0, listed.stderr
    records = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [r["organization_membership"]["id"] for r in records] == ids  # id order
    assert all(r["deleted"] is False for r in records)
    assert sorted(r["event_sequence"] for r in records) == [1, 2, 3]
    assert listed.stderr == (
        "3 memberships as of sequence 3 (follow with: clerk-relay tail --after 3)\n"
    )

    elsewhere = clerk_relay(
        "list", "memberships", "--organization", "org_elsewhere", "--page-size", "1", env=env
    )
    assert (elsewhere.returncode, elsewhere.stdout) == (0, "")

    got = clerk_relay("get", "membership", ids[0], env=env)
    assert got.returncode == 0, got.stderr
    record = orjson.loads(got.stdout)
    assert record["organization_membership"]["id"] == ids[0]
    assert record["organization_membership"]["organization"]["id"] == ORGANIZATION
    assert got.stdout.startswith('{\n  "organization_membership"')  # indented for people


def test_unknown_id_is_an_error(relay: RelayProcess, env: dict[str, str]) -> None:
    result = clerk_relay("get", "user", "user_never_seen", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "clerk-relay: no user with id 'user_never_seen': the relay has never seen it\n"
    )


def test_filter_that_does_not_apply_is_an_error() -> None:
    result = clerk_relay("list", "users", "--organization", "org_1")
    assert result.returncode == 2
    assert result.stderr == (
        "clerk-relay: --organization does not apply to users (they take no filter)\n"
    )
    sessions = clerk_relay("list", "sessions", "--payer", "payer_1")
    assert sessions.returncode == 2
    assert sessions.stderr == (
        "clerk-relay: --payer does not apply to sessions (they accept --user)\n"
    )


def test_tls_and_token_flags(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    relay = serve(tmp_path, None, "--tls-cert", str(cert), "--tls-key", str(key))
    relay.env = relay_env(CLERK_RELAY_TOKENS="s3cret-token")
    with running(relay):
        env = relay_env(CLERK_RELAY_GRPC_TARGET=relay.grpc_target)
        flags = ("--tls-ca", str(cert), "--token", "s3cret-token")
        listed = clerk_relay("list", "roles", *flags, env=env)
        assert (listed.returncode, listed.stdout) == (0, "")
        assert listed.stderr.startswith("0 roles as of sequence 0")
        from_env = clerk_relay(
            "list",
            "roles",
            env=dict(env, CLERK_RELAY_TLS_CA=str(cert), CLERK_RELAY_TOKEN="s3cret-token"),
        )
        assert from_env.returncode == 0, from_env.stderr
        plaintext = clerk_relay("list", "roles", "--token", "s3cret-token", env=env)
        assert plaintext.returncode == 1
        assert "cannot reach the clerk-relay gRPC service" in plaintext.stderr
