"""The converter types every Clerk example losslessly and never raises on a JSON object."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from clerkrelay.catalog import EVENT_TYPES, case_name
from clerkrelay.clerk_json import is_json_text, to_clerk_dict
from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from gateway.convert import InvalidEnvelope, convert
from gateway.json_text import InvalidJson, parse_body
from tests.examples import Example, example, load_examples

EXAMPLES = load_examples()

# Keys in the examples that the contract deliberately does not type.
UNTYPED_ALLOWED = {
    # Added by the webhookthing tool that saved this payload; Clerk never sends it.
    ("email.created.Cunhat-clerk-webhooks.json", "Event.test"),
}

_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def _assert_same(expected: Any, actual: Any, descriptor: Descriptor, path: str) -> None:
    """Asserts `actual` (`to_clerk_dict` output) equals Clerk's JSON on every typed key.

    Allowed differences are only what protobuf cannot tell apart: null vs
    absent, [] vs absent. Free-form JSON and 64-bit integers must come back
    exactly, integers as integers.
    """
    assert isinstance(expected, dict) and isinstance(actual, dict), path
    assert set(actual) <= set(expected), f"{path}: invented keys {set(actual) - set(expected)}"
    for key, want in expected.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_name.get(key + "_json")
        where = f"{path}.{key}"
        if field is None:
            continue  # untyped: checked by test_every_example_key_is_typed
        if want is None or want == []:
            assert key not in actual or actual[key] in ([], {}), where
            continue
        assert key in actual, f"{where} missing"
        got = actual[key]
        if is_json_text(field):
            assert json.dumps(got) == json.dumps(want), where  # same values, same types
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type
            assert sub is not None
            if field.is_repeated:
                assert len(got) == len(want), where
                for i, (w, g) in enumerate(zip(want, got, strict=True)):
                    _assert_same(w, g, sub, f"{where}[{i}]")
            else:
                _assert_same(want, got, sub, where)
        elif field.type in _INT64:
            assert json.dumps(got) == json.dumps(want), where  # numbers, not strings
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            assert math.isclose(got, want), where
        else:
            assert got == want, where


@pytest.mark.parametrize("ex", EXAMPLES, ids=lambda e: e.name)
def test_example_round_trips(ex: Example) -> None:
    conversion = convert(ex.envelope, ex.body, "msg_test")
    event = conversion.event
    case = event.WhichOneof("payload")
    assert case == case_name(ex.type)
    payload = getattr(event, case)
    written = to_clerk_dict(payload)
    _assert_same(ex.envelope["data"], written, payload.DESCRIPTOR, "data")
    assert event.raw_body == ex.body
    assert event.id == "msg_test"
    assert event.type == ex.type
    assert event.sequence == 0


def test_every_example_key_is_typed() -> None:
    untyped = {
        (ex.name, path)
        for ex in EXAMPLES
        for path in convert(ex.envelope, ex.body, "msg_test").drift
    }
    assert untyped == UNTYPED_ALLOWED


def test_payload_oneof_has_one_case_per_catalog_type() -> None:
    cases = [f.name for f in Event.DESCRIPTOR.oneofs_by_name["payload"].fields]
    assert len(EVENT_TYPES) == 46
    assert sorted(cases) == sorted(case_name(t) for t in EVENT_TYPES)


def test_every_catalog_type_with_an_example_lands_in_its_case() -> None:
    covered = {ex.type for ex in EXAMPLES}
    assert covered == set(EVENT_TYPES)  # Clerk publishes an example of every type


@pytest.mark.parametrize(
    ("legacy", "case"),
    [
        ("subscription.past_due", "subscription_past_due"),
        ("subscriptionItem.past_due", "subscription_item_past_due"),
    ],
)
def test_legacy_past_due_spellings_land_in_the_camel_case_cases(legacy: str, case: str) -> None:
    modern = example(legacy.replace("past_due", "pastDue"))
    envelope = dict(modern.envelope, type=legacy)
    event = convert(envelope, modern.body, "msg_legacy").event
    assert event.WhichOneof("payload") == case
    assert event.type == legacy  # the type string stays verbatim
    assert getattr(event, case).id == modern.envelope["data"]["id"]


def test_unknown_type_keeps_raw_body_and_has_no_payload() -> None:
    body = b'{"type":"foo.bar","object":"event","data":{"id":"x_1","novel":[1,2]},"timestamp":1}'
    conversion = convert(orjson.loads(body), body, "msg_unknown")
    assert conversion.event.WhichOneof("payload") is None
    assert conversion.event.type == "foo.bar"
    assert conversion.event.raw_body == body
    assert conversion.event.timestamp == 1
    assert conversion.drift == []


def test_envelope_fields_are_typed() -> None:
    ex = example("user.created")
    conversion = convert(ex.envelope, ex.body, "msg_env", receive_time_ns=1_700_000_000_123_000_000)
    event = conversion.event
    assert event.object == "event"
    assert event.timestamp == ex.envelope["timestamp"]
    assert event.instance_id == ex.envelope["instance_id"]
    http = ex.envelope["event_attributes"]["http_request"]
    assert event.event_attributes.http_request.client_ip == http["client_ip"]
    assert event.event_attributes.http_request.user_agent == http["user_agent"]
    assert event.receive_time.ToNanoseconds() == 1_700_000_000_123_000_000


def test_wrong_json_type_is_skipped_and_reported_not_fatal() -> None:
    ex = example("user.created")
    data = dict(ex.envelope["data"], first_name=123, email_addresses="nope")
    envelope = dict(ex.envelope, data=data)
    conversion = convert(envelope, ex.body, "msg_bad")
    user = conversion.event.user_created
    assert not user.HasField("first_name")
    assert len(user.email_addresses) == 0
    assert user.id == data["id"]
    assert user.last_name == data["last_name"]
    assert sorted(conversion.drift) == ["User.email_addresses", "User.first_name"]


@pytest.mark.parametrize("value", [0, 1, 2, 1.0, "true"])
def test_a_non_boolean_for_a_boolean_is_drift_not_coerced(value: Any) -> None:
    ex = example("user.created")
    data = dict(ex.envelope["data"], banned=value, locked=True)
    conversion = convert(dict(ex.envelope, data=data), ex.body, "msg_bool")
    user = conversion.event.user_created
    assert not user.HasField("banned")  # protobuf would have taken 2 for true
    assert user.locked is True
    assert conversion.drift == ["User.banned"]


def test_wrong_json_type_deep_inside_keeps_the_rest() -> None:
    ex = next(
        e for e in EXAMPLES if e.type == "user.created" and e.envelope["data"]["email_addresses"]
    )
    emails = [dict(e, verification="verified") for e in ex.envelope["data"]["email_addresses"]]
    envelope = dict(ex.envelope, data=dict(ex.envelope["data"], email_addresses=emails))
    conversion = convert(envelope, ex.body, "msg_deep")
    user = conversion.event.user_created
    assert [e.email_address for e in user.email_addresses] == [e["email_address"] for e in emails]
    assert emails and not user.email_addresses[0].HasField("verification")
    assert conversion.drift == ["EmailAddress.verification"] * len(emails)


def test_untyped_keys_are_reported_with_their_message() -> None:
    ex = example("organization.created")
    data = dict(ex.envelope["data"], brand_new_field={"a": 1})
    conversion = convert(dict(ex.envelope, data=data, extra=1), ex.body, "msg_new")
    assert sorted(conversion.drift) == ["Event.extra", "Organization.brand_new_field"]
    assert conversion.event.organization_created.id == data["id"]


def test_known_type_without_data_object_has_no_payload() -> None:
    conversion = convert({"type": "user.created", "data": [1]}, b"{}", "msg_nodata")
    assert conversion.event.WhichOneof("payload") is None
    assert conversion.event.payload_omission == PayloadOmission.PAYLOAD_OMISSION_DATA_NOT_OBJECT
    assert conversion.drift == ["Event.data"]


def _user_body(**data: Any) -> bytes:
    ex = example("user.updated")
    return json.dumps(dict(ex.envelope, data=dict(ex.envelope["data"], **data))).encode()


def _convert_body(body: bytes) -> Event:
    return convert(parse_body(body), body, "msg_hostile").event


def test_metadata_numbers_keep_their_exact_value_and_type() -> None:
    metadata = {"count": 1, "big": 2**53 + 1, "huge": 2**70, "ratio": 1.0, "neg": -(2**63)}
    event = _convert_body(_user_body(public_metadata=metadata))
    assert event.user_updated.public_metadata_json == json.dumps(metadata, separators=(",", ":"))
    back = to_clerk_dict(event.user_updated)["public_metadata"]
    assert back == metadata
    assert [type(v) for v in back.values()] == [int, int, int, float, int]


def test_metadata_nested_deeper_than_protobuf_allows_still_types_the_user() -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = {"a": deep}
    body = _user_body(unsafe_metadata=deep)
    event = _convert_body(body)
    assert event.user_updated.unsafe_metadata_json.count("{") == 200
    assert Event.FromString(event.SerializeToString()) == event  # decodes with default limits


def test_metadata_nested_deeper_than_the_serializers_omits_the_payload() -> None:
    body = _user_body(unsafe_metadata="DEEP").replace(
        b'"DEEP"', b'{"a":' * 1000 + b"1" + b"}" * 1000
    )
    event = _convert_body(body)
    assert event.WhichOneof("payload") is None
    assert event.payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_DEEP
    assert event.raw_body == body
    assert Event.FromString(event.SerializeToString()) == event


def test_typed_event_over_the_limit_omits_the_payload() -> None:
    body = _user_body(public_metadata={"n": [-1] * 1000})
    limit = len(body) + 1024  # room for the envelope, not for a second copy of the body
    conversion = convert(parse_body(body), body, "msg_big", max_event_bytes=limit)
    assert conversion.event.WhichOneof("payload") is None
    assert conversion.event.payload_omission == PayloadOmission.PAYLOAD_OMISSION_TOO_LARGE
    assert conversion.event.ByteSize() <= limit
    assert conversion.drift == ["Event.data"]
    kept = convert(parse_body(body), body, "msg_big", max_event_bytes=3 * len(body))
    assert kept.event.WhichOneof("payload") == "user_updated"


@pytest.mark.parametrize("timestamp", [2**63, -(2**63) - 1, 2**64 + 5])
def test_envelope_number_out_of_range_is_drift_not_an_error(timestamp: int) -> None:
    ex = example("user.created")
    body = json.dumps(dict(ex.envelope, timestamp=timestamp)).encode()
    conversion = convert(parse_body(body), body, "msg_range")
    assert not conversion.event.HasField("timestamp")
    assert conversion.drift == ["Event.timestamp"]
    assert conversion.event.user_created.id == ex.envelope["data"]["id"]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**80, 1.5, "1"])
def test_typed_number_out_of_range_or_of_the_wrong_kind_is_drift(value: Any) -> None:
    body = _user_body(last_sign_in_at=value)
    conversion = convert(parse_body(body), body, "msg_range")
    user = conversion.event.user_updated
    assert not user.HasField("last_sign_in_at")
    assert conversion.drift == ["User.last_sign_in_at"]
    assert user.id == example("user.updated").envelope["data"]["id"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type":"user.created","data":{"a":1e400}}', "invalid JSON: number is infinity"),
        (b'{"type":"user.created","data":{"a":"\\ud800"}}', "invalid JSON: no low surrogate"),
        (b"[" * 1100 + b"]" * 1100, "invalid JSON: depth limit exceeded"),
        (b'{"type":"x","n":' + b"9" * 30 + b"}", None),
        (b'{"type":"x","n":' + b"9" * 5000 + b"}", "invalid JSON: number is infinity"),
        (b"\xff\xfe{}", "invalid JSON"),
    ],
)
def test_parse_body_refuses_what_it_cannot_keep_exactly(body: bytes, reason: str | None) -> None:
    if reason is None:
        assert parse_body(body)["n"] == int("9" * 30)
        return
    with pytest.raises(InvalidJson, match=reason):
        parse_body(body)


_LONG = 123456789012345678901


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"123456789012345678901", _LONG),
        (b"[123456789012345678901]", [_LONG]),
        (b"[1,123456789012345678901]", [1, _LONG]),
        (b"[-123456789012345678901]", [-_LONG]),
        (b'{"n":123456789012345678901}', {"n": _LONG}),
        (b'{"n": \t\r\n123456789012345678901}', {"n": _LONG}),
    ],
)
def test_a_long_integer_after_anything_that_can_precede_one_stays_exact(
    body: bytes, expected: Any
) -> None:
    assert parse_body(body) == expected
    assert json.dumps(parse_body(body)) == json.dumps(expected)  # ints, not floats


def test_long_digit_runs_inside_strings_skip_the_second_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Google's account ids have 21 digits: such a body is parsed once, by orjson.
    body = _user_body(external_id="113769128427393218419", username="ada113769128427393218419")

    def refuse(text: bytes) -> Any:
        raise AssertionError("parsed twice")

    monkeypatch.setattr(json, "loads", refuse)
    parsed = parse_body(body)
    assert parsed["data"]["external_id"] == "113769128427393218419"
    assert parsed["data"]["username"] == "ada113769128427393218419"


def test_a_long_integer_after_a_long_digit_string_stays_exact() -> None:
    body = b'{"id":"113769128427393218419","n":' + b"9" * 25 + b"}"
    assert parse_body(body) == {"id": "113769128427393218419", "n": int("9" * 25)}


def test_empty_data_object_still_selects_the_case() -> None:
    conversion = convert({"type": "role.created", "data": {}}, b"{}", "msg_empty")
    assert conversion.event.WhichOneof("payload") == "role_created"


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ([1, 2], "body is not a JSON object"),
        ("user.created", "body is not a JSON object"),
        ({"data": {}}, "body has no event type"),
        ({"type": ""}, "body has no event type"),
        ({"type": 7}, "body has no event type"),
    ],
)
def test_not_an_envelope_is_rejected(envelope: Any, reason: str) -> None:
    with pytest.raises(InvalidEnvelope, match=reason):
        convert(envelope, b"", "msg_x")
