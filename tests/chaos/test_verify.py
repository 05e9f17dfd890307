"""The chaos suite's own checks and sender catch what they are meant to catch.

A chaos run that passes only means something if its checks fail on a lost
event, a gap, a repeat, a wrong sequence or a different projection: each is
shown here on a hand-made log.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from clerkrelay.v1.event_pb2 import Event
from service.storage import StoredEvent
from tests.chaos.bad_requests import BAD_MARKER
from tests.chaos.sender import Answer, Message, MessageLog, SenderPolicy, SendReport, SvixSender
from tests.chaos.subscribers import Segment, Subscriber, type_matches
from tests.chaos.verify import (
    acknowledged_problems,
    bad_request_problems,
    projection_problems,
    subscriber_problems,
)

pytestmark = pytest.mark.chaos

TYPES = ["user.created", "organization.created", "user.updated", "session.created", "user.deleted"]


def _log(types: list[str] = TYPES) -> list[StoredEvent]:
    """Events 1..n with webhook ids msg_1..msg_n."""
    return [
        StoredEvent(n, t, (), "", 0, Event(id=f"msg_{n}", type=t, sequence=n).SerializeToString())
        for n, t in enumerate(types, 1)
    ]


def _report(answers: dict[str, list[Answer]]) -> SendReport:
    logs = {}
    for webhook_id, given in answers.items():
        logs[webhook_id] = MessageLog(Message(webhook_id, "user.created", b"{}"), 1, 1, given)
    return SendReport(logs, Counter(), [], 0.0)


def _subscriber(patterns: tuple[str, ...], *segments: Segment) -> Subscriber:
    subscriber = Subscriber("s", "127.0.0.1:1", patterns, random.Random(0))
    subscriber.segments.extend(segments)
    return subscriber


def _segment(after: int, *sequences: int) -> Segment:
    return Segment(after, [(n, f"msg_{n}") for n in sequences])


def test_type_patterns() -> None:
    assert type_matches(("*",), "user.created")
    assert type_matches(("user.*",), "user.created")
    assert not type_matches(("user.*",), "userX.created")
    assert type_matches(("session.created", "user.*"), "session.created")
    assert not type_matches(("session.created",), "session.ended")


def test_acknowledged_events_all_stored_at_their_sequence_pass() -> None:
    answers = {f"msg_{n}": [Answer(200, n, False)] for n in range(1, 6)}
    answers["msg_2"].append(Answer(200, 2, True))
    assert acknowledged_problems(_report(answers), _log()) == []


def test_an_acknowledged_event_missing_from_the_store_is_lost() -> None:
    answers = {f"msg_{n}": [Answer(200, n, False)] for n in range(1, 7)}
    (problem,) = acknowledged_problems(_report(answers), _log())
    assert problem.startswith("1 acknowledged webhooks are not stored: msg_6")


def test_an_answer_naming_another_sequence_is_caught() -> None:
    answers = {f"msg_{n}": [Answer(200, n, False)] for n in range(1, 6)}
    answers["msg_3"].append(Answer(200, 4, True))
    assert acknowledged_problems(_report(answers), _log()) == [
        "2xx answers naming the wrong sequence: msg_3 answered 4, stored at 3"
    ]


def test_two_accepting_answers_for_one_id_are_caught() -> None:
    answers = {f"msg_{n}": [Answer(200, n, False)] for n in range(1, 6)}
    answers["msg_1"].append(Answer(200, 1, False))
    assert acknowledged_problems(_report(answers), _log()) == [
        "accepted (not duplicate) more than once: msg_1"
    ]


def test_a_bad_request_in_the_log_is_caught() -> None:
    log = _log()
    log.append(StoredEvent(6, "user.created", (), "", 0, f"user_{BAD_MARKER}_x".encode()))
    assert bad_request_problems(log) == ["bad requests were stored at sequences 6"]


def test_a_subscriber_that_resumed_and_saw_everything_passes() -> None:
    subscriber = _subscriber(("user.*",), _segment(0, 1, 3), _segment(3), _segment(3, 5))
    assert subscriber_problems(subscriber, _log()) == []


def test_a_gap_inside_a_connection_is_caught() -> None:
    subscriber = _subscriber(("*",), _segment(0, 1, 2, 4, 5))
    (problem,) = subscriber_problems(subscriber, _log())
    assert "received 4 events, expected 5; missing 3;" in problem


def test_a_repeat_or_disorder_inside_a_connection_is_caught() -> None:
    subscriber = _subscriber(("*",), _segment(0, 1, 2, 2, 4, 3, 5))
    (problem,) = subscriber_problems(subscriber, _log())
    assert "repeated or unexpected 2; in order: False" in problem


def test_resuming_elsewhere_than_after_the_last_event_seen_is_caught() -> None:
    subscriber = _subscriber(("*",), _segment(0, 1, 2), _segment(3, 4, 5))
    assert subscriber_problems(subscriber, _log()) == ["s: connection 1 subscribed after 3, not 2"]


def test_a_subscriber_that_never_saw_the_last_matching_event_is_caught() -> None:
    subscriber = _subscriber(("user.*",), _segment(0, 1, 3))
    assert subscriber_problems(subscriber, _log()) == [
        "s: last event seen is 3, the last matching one is 5"
    ]


def test_a_different_projection_is_caught() -> None:
    reference = {"user": [("user_1", b"a", False, 1), ("user_2", b"b", True, 2)]}
    assert projection_problems(reference, reference) == []
    relay = {"user": [("user_1", b"a", True, 1), ("user_3", b"c", False, 3)]}
    assert projection_problems(relay, reference) == [
        "projection of user: missing user_2; extra user_3; "
        "different ('user_1', (True, 1), (False, 1))"
    ]


def test_the_sender_schedules_every_message_once_reordered_within_windows() -> None:
    messages = [Message(f"msg_{n}", "user.created", b"{}") for n in range(200)]
    policy = SenderPolicy(duplicate_rate=0.2, reorder_window=8)
    jobs = SvixSender("http://127.0.0.1:1", "whsec_x", policy, random.Random(7)).schedule(messages)
    firsts = [job.message for job in jobs if not job.copy]
    copies = [job.message for job in jobs if job.copy]
    assert sorted(m.webhook_id for m in firsts) == sorted(m.webhook_id for m in messages)
    assert firsts != messages
    for window in range(0, 200, 8):
        assert set(firsts[window : window + 8]) == set(messages[window : window + 8])
    assert 20 <= len(copies) <= 60
    for copy in copies:
        position = next(i for i, job in enumerate(jobs) if job.message == copy)
        assert not jobs[position].copy  # the first delivery comes first
