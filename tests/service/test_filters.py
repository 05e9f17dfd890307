import pytest

from service.filters import EventFilter, InvalidFilter
from service.storage import StoredEvent


def stored(
    event_type: str, subjects: tuple[str, ...] = (), organization_id: str = ""
) -> StoredEvent:
    return StoredEvent(1, event_type, subjects, organization_id, 0, b"")


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        ([], "user.created", True),
        (["*"], "foo.bar", True),
        (["user.*"], "user.deleted", True),
        (["user.*"], "userX.deleted", False),
        (["user.*"], "session.created", False),
        (["organizationMembership.created"], "organizationMembership.created", True),
        (["organizationMembership.created"], "organizationMembership.deleted", False),
        (["session.*", "user.created"], "user.created", True),
        (["session.*", "user.created"], "user.updated", False),
    ],
)
def test_type_patterns(patterns: list[str], event_type: str, expected: bool) -> None:
    assert EventFilter(patterns)(stored(event_type)) is expected


@pytest.mark.parametrize(
    "pattern", ["", "user", "user.", "*.created", "user.**", "us er.*", "a.b.c"]
)
def test_invalid_patterns_say_why(pattern: str) -> None:
    with pytest.raises(InvalidFilter, match=r"invalid event type pattern .*use '\*'"):
        EventFilter([pattern])


def test_entity_ids_match_any_subject() -> None:
    f = EventFilter(["*"], entity_ids=["user_1", "user_9"])
    assert f(stored("session.created", ("sess_1", "user_1")))
    assert not f(stored("session.created", ("sess_2", "user_2")))


def test_organization_filter() -> None:
    f = EventFilter(["organizationMembership.*"], organization_id="org_1")
    assert f(stored("organizationMembership.created", organization_id="org_1"))
    assert not f(stored("organizationMembership.created", organization_id="org_2"))
    assert not f(stored("organization.created", organization_id="org_1"))


def test_matches_all_only_without_restrictions() -> None:
    assert EventFilter([]).matches_all
    assert EventFilter(["*"]).matches_all
    assert not EventFilter(["user.*"]).matches_all
    assert not EventFilter(["*"], entity_ids=["user_1"]).matches_all
    assert not EventFilter(["*"], organization_id="org_1").matches_all
