"""`--log-format json`: one JSON object per line, the relay's and uvicorn's, fields as keys."""

from __future__ import annotations

import logging
import re
import socket
import sys
from pathlib import Path

import orjson
import pytest

from clerkrelay.cli.logs import JsonFormatter, TextFormatter, logfmt_fields
from tests.cli.conftest import clerk_relay
from tests.processes import RelayProcess, relay_env, serve

TEXT_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
BANNER_END = "--from-beginning"


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (
            "webhook_id=msg_1 type=user.created outcome=stored status=200 latency_ms=1.250 "
            "sequence=42",
            {
                "webhook_id": "msg_1",
                "type": "user.created",
                "outcome": "stored",
                "status": 200,
                "latency_ms": 1.25,
                "sequence": 42,
            },
        ),
        (
            'reconcile pass=20261202T121500Z.3f2a kind=users reason="bad key \\"sk_…\\"" n=-3',
            {
                "pass": "20261202T121500Z.3f2a",
                "kind": "users",
                "reason": 'bad key "sk_…"',
                "n": -3,
            },
        ),
        ("webhook_id= outcome=x", {"webhook_id": "", "outcome": "x"}),
        ("id=0123 big=12345678901234567890", {"id": "0123", "big": "12345678901234567890"}),
        ("readiness check failed: the store is unavailable", {}),
        ("a=1 then words", {}),
        ("Invalid HTTP request received.", {}),
    ],
)
def test_the_fields_that_end_a_message(message: str, fields: dict[str, object]) -> None:
    assert logfmt_fields(message) == fields


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    record = logging.LogRecord(
        "clerk_relay.gateway", logging.INFO, __file__, 1, message, args, info
    )
    record.created = 1_796_212_800.5
    return record


def test_a_record_is_one_json_object() -> None:
    line = JsonFormatter().format(_record("webhook_id=%s level=spoofed outcome=%s", "m", "stored"))
    assert "\n" not in line
    assert orjson.loads(line) == {
        "time": "2026-12-02T12:00:00.500Z",
        "level": "info",
        "logger": "clerk_relay.gateway",
        "message": "webhook_id=m level=spoofed outcome=stored",
        "webhook_id": "m",
        "outcome": "stored",
    }


def test_an_exception_is_one_key_of_the_line() -> None:
    line = JsonFormatter().format(_record("append failed", exc=True))
    entry = orjson.loads(line)
    assert entry["message"] == "append failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: boom")


def test_text_lines_are_what_the_standard_formatter_writes() -> None:
    standard = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    ours = TextFormatter()
    # The same second twice, the next one, back to an earlier one, and both ends of a second.
    for created in (1_796_212_800.5, 1_796_212_800.999, 1_796_212_801.0, 1_796_212_800.0015):
        record = _record("webhook_id=%s outcome=%s", "m", "stored")
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)
    failed = _record("append failed", exc=True)
    assert ours.format(failed) == standard.format(failed)
    assert ours.format(failed).endswith("ValueError: boom")


def test_serve_logs_json_lines_only(tmp_path: Path, started: list[RelayProcess]) -> None:
    relay = serve(tmp_path, None, "--log-format", "json", "--log-level", "info")
    started.append(relay.start())
    sent = clerk_relay(
        "trigger", "user.created", "--id", "user_json", "--url", relay.http_url, env=relay_env()
    )
    assert sent.returncode == 0, sent.stderr
    with socket.create_connection(("127.0.0.1", relay.http_port or 0), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400 ")
    assert relay.stop() == 0

    text = relay.log.read_text()
    banner, _, logs = text.partition(BANNER_END)  # the banner is stdout's, not a log line
    assert logs, text
    lines = [line for line in logs.split("\n", 1)[1].splitlines() if line]
    assert not [line for line in text.splitlines() if TEXT_PREFIX.match(line)], text
    entries = [orjson.loads(line) for line in lines]
    webhook = [e for e in entries if e.get("webhook_id")]
    assert len(webhook) == 1, entries
    assert webhook[0]["logger"] == "clerk_relay.gateway"
    assert (webhook[0]["type"], webhook[0]["outcome"], webhook[0]["status"]) == (
        "user.created",
        "accepted",
        200,
    )
    assert webhook[0]["sequence"] == 1
    uvicorn = [e for e in entries if e["logger"] == "uvicorn.error"]
    assert [(e["level"], e["message"]) for e in uvicorn] == [
        ("warning", "Invalid HTTP request received.")
    ]
    assert {e["level"] for e in entries} <= {"info", "warning"}
