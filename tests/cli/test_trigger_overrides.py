"""`trigger --id` and `--set`: shaping samples to update and delete an entity seen earlier."""

from __future__ import annotations

import argparse
import copy
import re

import orjson
import pytest

from clerkrelay.cli.cli_error import CliError
from clerkrelay.cli.overrides import Override, apply_overrides, parse_override
from clerkrelay.cli.trigger import fresh_envelope
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess


def test_a_user_created_then_updated_then_deleted_by_id(
    relay: RelayProcess, env: dict[str, str]
) -> None:
    url = ("--url", relay.http_url)
    created = clerk_relay("trigger", "user.created", "--id", "user_ada", *url, env=env)
    assert created.returncode == 0, created.stderr
    assert "data.id=user_ada " in created.stdout
    updated = clerk_relay(
        "trigger",
        "user.updated",
        "--id",
        "user_ada",
        "--set",
        "data.first_name=Ada",
        "--set",
        'data.public_metadata={"plan":"pro","seats":3}',
        "--set",
        'data.email_addresses=[{"id":"idn_1","object":"email_address","email_address":"a@b.c"}]',
        "--set",
        "data.email_addresses.0.email_address=ada@example.com",
        *url,
        env=env,
    )
    assert updated.returncode == 0, updated.stderr

    got = orjson.loads(clerk_relay("get", "user", "user_ada", env=env).stdout)
    user = got["user"]
    assert (got["deleted"], got["event_sequence"]) == (False, 2)
    assert user["first_name"] == "Ada"
    assert user["public_metadata"] == {"plan": "pro", "seats": 3}
    assert user["email_addresses"][0]["email_address"] == "ada@example.com"

    deleted = clerk_relay("trigger", "user.deleted", "--id", "user_ada", *url, env=env)
    assert deleted.returncode == 0, deleted.stderr
    after = orjson.loads(clerk_relay("get", "user", "user_ada", env=env).stdout)
    assert (after["deleted"], after["event_sequence"]) == (True, 3)


def test_a_bad_path_is_refused_before_anything_is_sent(
    relay: RelayProcess, env: dict[str, str]
) -> None:
    result = clerk_relay(
        "trigger", "user.created", "--set", "data.first_name.x=1", "--url", relay.http_url, env=env
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--set data.first_name.x: data.first_name is not an object or a list" in result.stderr
    tailed = clerk_relay("tail", "--from-beginning", "--json", "--until-caught-up", env=env)
    assert tailed.stdout == ""


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("data.first_name=Ada", ("data", "first_name"), "Ada"),
        ("data.age=42", ("data", "age"), 42),
        ('data.age="42"', ("data", "age"), "42"),
        ("data.banned=true", ("data", "banned"), True),
        ("data.last_name=null", ("data", "last_name"), None),
        ("data.note=a=b", ("data", "note"), "a=b"),
        ("data.first_name=", ("data", "first_name"), ""),
        ('data.m={"a":[1]}', ("data", "m"), {"a": [1]}),
    ],
)
def test_values_are_json_when_they_are_json_else_strings(
    text: str, path: tuple[str, ...], value: object
) -> None:
    assert parse_override(text) == Override(path, value)


@pytest.mark.parametrize("text", ["data.first_name", "=Ada", "data..x=1", "data.=1"])
def test_malformed_overrides_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="takes PATH=VALUE"):
        parse_override(text)


def test_paths_create_missing_objects_and_index_lists() -> None:
    envelope = fresh_envelope("user.created", 1_700_000_000_000)
    before = copy.deepcopy(envelope)
    apply_overrides(
        envelope,
        [
            Override(("data", "email_addresses"), [{"id": "idn_0"}]),
            Override(("data", "private_metadata", "tier", "name"), "gold"),
            Override(("data", "email_addresses", "0", "id"), "idn_1"),
            Override(("data", "updated_at"), 5),
        ],
    )
    assert envelope["data"]["private_metadata"]["tier"] == {"name": "gold"}
    assert envelope["data"]["email_addresses"][0]["id"] == "idn_1"
    assert envelope["data"]["updated_at"] == 5
    assert envelope["data"]["id"] == before["data"]["id"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("data", "email_addresses", "9", "id"), "data.email_addresses is a list of 1, so '9'"),
        (("data", "email_addresses", "x"), "data.email_addresses is a list of 1, so 'x'"),
        (("data", "id", "x"), "data.id is not an object or a list"),
        (("type", "x", "y"), "type is not an object or a list"),
    ],
)
def test_paths_through_scalars_or_past_lists_are_errors(
    path: tuple[str, ...], message: str
) -> None:
    envelope = fresh_envelope("user.created", 1_700_000_000_000)
    envelope["data"]["email_addresses"] = [{"id": "idn_0"}]
    with pytest.raises(CliError, match=re.escape(message)):
        apply_overrides(envelope, [Override(path, 1)])
