"""How the CLI prints events and records, and how `trigger` freshens Clerk's examples."""

from __future__ import annotations

import orjson
import pytest

from clerkrelay.cli.cli_error import CliError
from clerkrelay.cli.rendering import event_json, event_line, record_json, subject_id
from clerkrelay.cli.samples import sample
from clerkrelay.cli.trigger import fresh_envelope, webhook_url
from clerkrelay.v1.state_service_pb2 import UserRecord
from gateway.convert import convert
from tests.history import event


def test_line_of_a_typed_event() -> None:
    typed = event("user.created", "user_1", at=1_700_000_000_123)
    typed.sequence = 42
    assert event_line(typed) == (
        "2023-11-14T22:13:20.123Z  #42     user.created                       user_1"
    )
    typed.stale = True
    assert event_line(typed).endswith("user_1  (stale)")


def test_unknown_type_keeps_its_raw_body() -> None:
    body = b'{"type":"widget.spun","timestamp":1700000000000,"data":{"id":"wdg_1","rpm":3}}'
    unknown = convert(orjson.loads(body), body, "msg_1").event
    unknown.sequence = 7
    assert unknown.WhichOneof("payload") is None
    assert subject_id(unknown) == "wdg_1"
    document = orjson.loads(event_json(unknown))
    assert document["payload"] is None
    assert document["raw_body"] == {
        "type": "widget.spun",
        "timestamp": 1700000000000,
        "data": {"id": "wdg_1", "rpm": 3},
    }
    assert (document["sequence"], document["id"], document["type"]) == (7, "msg_1", "widget.spun")
    assert document["timestamp"] == 1700000000000


def test_json_of_a_typed_event() -> None:
    typed = event("organizationMembership.created", "orgmem_1", at=1_700_000_000_000)
    typed.sequence = 3
    document = orjson.loads(event_json(typed))
    assert list(document)[:4] == ["sequence", "id", "type", "timestamp"]
    assert document["payload"]["id"] == "orgmem_1"
    assert document["payload"]["updated_at"] == 1700000000000  # int64: a number, as Clerk's
    assert document["raw_body"]["data"]["updated_at"] == 1700000000000  # as Clerk sent it
    assert document["stale"] is False
    assert "organization_membership_created" not in document
    assert document["raw_body"]["data"]["id"] == "orgmem_1"


def test_record_json() -> None:
    record = UserRecord(user=event("user.created", "user_9").user_created, event_sequence=5)
    document = orjson.loads(record_json(record))
    assert document["user"]["id"] == "user_9"
    assert (document["deleted"], document["event_sequence"]) == (False, 5)
    assert record_json(record, indent=True).startswith(b'{\n  "user": {')


def test_fresh_envelope_changes_ids_and_times_only() -> None:
    original = sample("session.created")
    fresh = fresh_envelope("session.created", 1_800_000_000_000)
    again = fresh_envelope("session.created", 1_800_000_000_000)
    assert fresh["data"]["id"] != again["data"]["id"]
    prefix, _, rest = original["data"]["id"].rpartition("_")
    assert fresh["data"]["id"].startswith(prefix + "_")
    assert len(fresh["data"]["id"]) == len(original["data"]["id"])
    assert fresh["timestamp"] == 1_800_000_000_000
    assert fresh["data"]["updated_at"] == fresh["data"]["created_at"] == 1_800_000_000_000
    unchanged = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in fresh["data"].items() if k not in unchanged} == {
        k: v for k, v in original["data"].items() if k not in unchanged
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/webhooks/clerk"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/webhooks/clerk"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/webhooks/clerk"),
        ("https://relay.example/hooks/clerk", "https://relay.example/hooks/clerk"),
    ],
)
def test_webhook_url(given: str, expected: str) -> None:
    assert webhook_url(given) == expected


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(CliError, match="must be an http"):
        webhook_url("ftp://relay.example")
