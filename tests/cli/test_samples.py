from clerkrelay.catalog import EVENT_TYPES
from clerkrelay.cli.samples import sample, sample_types


def test_a_sample_is_bundled_for_every_event_type() -> None:
    assert sample_types() == sorted(EVENT_TYPES)


def test_sample_is_clerks_envelope() -> None:
    envelope = sample("organizationMembership.created")
    assert envelope["type"] == "organizationMembership.created"
    assert envelope["data"]["object"] == "organization_membership"


def test_unknown_sample_is_a_key_error() -> None:
    try:
        sample("foo.bar")
    except KeyError as error:
        assert error.args == ("foo.bar",)
    else:
        raise AssertionError("expected KeyError")
