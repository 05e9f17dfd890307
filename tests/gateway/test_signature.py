"""SignatureVerifier is exactly as strict as Svix's own verifier, with a configurable tolerance."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svix.webhooks import Webhook, WebhookVerificationError

from gateway.signature import (
    BadSignature,
    MissingHeaders,
    SignatureVerifier,
    TimestampOutOfTolerance,
    parse_secrets,
)
from tests.gateway.signing import (
    OTHER_SECRET,
    SECRET,
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
    sign,
    signed_headers,
)

NOW = 1_750_000_000
BODY = b'{"type":"user.created","data":{"id":"user_1"}}'


def frozen(at: float = NOW) -> SignatureVerifier:
    return SignatureVerifier([SECRET], now=lambda: at)


def vector_headers() -> dict[str, str]:
    return {
        "svix-id": VECTOR_ID,
        "svix-timestamp": str(VECTOR_TIMESTAMP),
        "svix-signature": VECTOR_SIGNATURE,
    }


# -- Svix's published test vector ----------------------------------------------------


def test_svix_test_vector_passes_with_a_frozen_clock() -> None:
    verifier = SignatureVerifier([VECTOR_SECRET], now=lambda: VECTOR_TIMESTAMP + 10)
    assert verifier.verify(vector_headers(), VECTOR_BODY) == VECTOR_ID


def test_signing_helper_reproduces_the_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_svix_test_vector_with_one_changed_byte_fails() -> None:
    verifier = SignatureVerifier([VECTOR_SECRET], now=lambda: VECTOR_TIMESTAMP)
    with pytest.raises(BadSignature, match="no matching signature"):
        verifier.verify(vector_headers(), b'{"test": 2432232315}')


def test_svix_test_vector_is_too_old_without_the_frozen_clock() -> None:
    verifier = SignatureVerifier([VECTOR_SECRET])
    with pytest.raises(TimestampOutOfTolerance, match="too old"):
        verifier.verify(vector_headers(), VECTOR_BODY)


# -- agreement with svix.Webhook.verify ----------------------------------------------


def test_accepts_what_svix_accepts() -> None:
    headers = signed_headers(BODY)
    Webhook(SECRET).verify(BODY, headers)  # Svix's own verdict: valid
    assert SignatureVerifier([SECRET]).verify(headers, BODY) == "msg_test_1"


@given(
    key=st.binary(min_size=1, max_size=64),
    prefixed=st.booleans(),
    padded=st.booleans(),
    webhook_id=st.text(min_size=1, max_size=40),
    timestamp=st.one_of(
        st.integers(NOW - 300, NOW + 300).map(str),
        st.floats(NOW - 300, NOW + 300).map(repr),
    ),
    text=st.text(max_size=200),
)
def test_signs_what_svix_signs(
    key: bytes, prefixed: bool, padded: bool, webhook_id: str, timestamp: str, text: str
) -> None:
    # The verifier keys its HMAC itself: it must read every secret as svix
    # does, and sign the same seconds for a fractional timestamp.
    encoded = base64.b64encode(key).decode()
    secret = ("whsec_" if prefixed else "") + (encoded if padded else encoded.rstrip("="))
    signed_at = datetime.fromtimestamp(float(timestamp), tz=UTC)
    headers = {
        "svix-id": webhook_id,
        "svix-timestamp": timestamp,
        "svix-signature": Webhook(secret).sign(webhook_id, signed_at, text),
    }
    verifier = SignatureVerifier([secret], now=lambda: NOW)
    assert verifier.verify(headers, text.encode()) == webhook_id
    other = Webhook(secret).sign(webhook_id + "x", signed_at, text)
    with pytest.raises(BadSignature, match="no matching signature"):
        verifier.verify({**headers, "svix-signature": other}, text.encode())


@pytest.mark.parametrize("timestamp", ["1750000000.9999997", "1750000000.5", "1750000000"])
def test_a_fractional_timestamp_signs_the_seconds_svix_signs(timestamp: str) -> None:
    # svix goes through a datetime, which rounds to microseconds: .9999997
    # signs the next second, where flooring the number would not.
    signed_at = datetime.fromtimestamp(float(timestamp), tz=UTC)
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": timestamp,
        "svix-signature": Webhook(SECRET).sign("msg_1", signed_at, "{}"),
    }
    assert frozen().verify(headers, b"{}") == "msg_1"


def test_rejects_what_svix_rejects_for_a_tampered_body() -> None:
    headers = signed_headers(BODY)
    tampered = BODY.replace(b"user_1", b"user_2")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    with pytest.raises(BadSignature):
        SignatureVerifier([SECRET]).verify(headers, tampered)


def test_the_signed_id_and_timestamp_are_bound_to_the_signature() -> None:
    headers = signed_headers(BODY, timestamp=NOW)
    verifier = frozen()
    with pytest.raises(BadSignature):
        verifier.verify({**headers, "svix-id": "msg_other"}, BODY)
    with pytest.raises(BadSignature):
        verifier.verify({**headers, "svix-timestamp": str(NOW + 1)}, BODY)


def test_wrong_secret_fails() -> None:
    headers = signed_headers(BODY, secrets=(OTHER_SECRET,), timestamp=NOW)
    with pytest.raises(BadSignature, match="no matching signature"):
        frozen().verify(headers, BODY)


# -- several signatures, several secrets ---------------------------------------------


@pytest.mark.parametrize("signer", [SECRET, OTHER_SECRET])
def test_rotation_either_secret_passes(signer: str) -> None:
    verifier = SignatureVerifier([SECRET, OTHER_SECRET], now=lambda: NOW)
    headers = signed_headers(BODY, secrets=(signer,), timestamp=NOW)
    assert verifier.verify(headers, BODY) == "msg_test_1"


def test_any_matching_v1_entry_passes() -> None:
    headers = signed_headers(BODY, secrets=(OTHER_SECRET, SECRET), timestamp=NOW)
    assert headers["svix-signature"].count("v1,") == 2
    assert frozen().verify(headers, BODY) == "msg_test_1"


def test_entries_of_other_versions_are_skipped() -> None:
    good = sign(SECRET, "msg_test_1", NOW, BODY)
    headers = signed_headers(BODY, timestamp=NOW)
    # The right bytes under another version label do not count.
    headers["svix-signature"] = "v1a," + good.removeprefix("v1,")
    with pytest.raises(BadSignature, match="no v1 signature"):
        frozen().verify(headers, BODY)
    headers["svix-signature"] = f"v1a,AAAA v2,BBBB {good}"
    assert frozen().verify(headers, BODY) == "msg_test_1"


def test_malformed_entries_are_not_matched() -> None:
    headers = signed_headers(BODY, timestamp=NOW)
    good = headers["svix-signature"].removeprefix("v1,")
    for signature in [good, f"v1{good}", "v1,", " ", "v1,é" + good]:
        with pytest.raises(BadSignature):
            frozen().verify({**headers, "svix-signature": signature}, BODY)


# -- headers -------------------------------------------------------------------------


def test_webhook_prefixed_headers_are_accepted() -> None:
    headers = signed_headers(BODY, prefix="webhook", timestamp=NOW)
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert frozen().verify(headers, BODY) == "msg_test_1"


def test_svix_headers_win_over_webhook_headers() -> None:
    svix = signed_headers(BODY, timestamp=NOW)
    wrong = signed_headers(BODY, webhook_id="msg_other", prefix="webhook", timestamp=NOW)
    assert frozen().verify({**wrong, **svix}, BODY) == "msg_test_1"


@pytest.mark.parametrize("name", ["svix-id", "svix-timestamp", "svix-signature"])
def test_each_missing_header_is_reported(name: str) -> None:
    headers = signed_headers(BODY, timestamp=NOW)
    del headers[name]
    with pytest.raises(MissingHeaders, match=f"^missing {name} header$"):
        frozen().verify(headers, BODY)


def test_empty_header_counts_as_missing() -> None:
    headers = {**signed_headers(BODY, timestamp=NOW), "svix-id": ""}
    with pytest.raises(MissingHeaders, match="^missing svix-id header$"):
        frozen().verify(headers, BODY)


def test_no_headers_at_all() -> None:
    with pytest.raises(
        MissingHeaders, match="^missing svix-id, svix-timestamp, svix-signature headers$"
    ):
        frozen().verify({}, BODY)


@pytest.mark.parametrize("timestamp", ["soon", "", "nan", "inf", "-inf", "0x10"])
def test_unreadable_timestamp_is_a_bad_signature(timestamp: str) -> None:
    headers = {**signed_headers(BODY, timestamp=NOW), "svix-timestamp": timestamp}
    expected = MissingHeaders if timestamp == "" else BadSignature
    with pytest.raises(expected):
        frozen().verify(headers, BODY)


# -- timestamp tolerance -------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "tolerance", "error"),
    [
        (-301, 300, "too old"),
        (301, 300, "too new"),
        (-61, 60, "too old"),
        (61, 60, "too new"),
    ],
)
def test_timestamp_outside_tolerance(offset: int, tolerance: int, error: str) -> None:
    verifier = SignatureVerifier([SECRET], tolerance_s=tolerance, now=lambda: NOW)
    headers = signed_headers(BODY, timestamp=NOW + offset)
    with pytest.raises(TimestampOutOfTolerance, match=error):
        verifier.verify(headers, BODY)


@pytest.mark.parametrize(("offset", "tolerance"), [(-300, 300), (300, 300), (-60, 60), (60, 60)])
def test_timestamp_at_the_edge_of_tolerance_passes(offset: int, tolerance: int) -> None:
    verifier = SignatureVerifier([SECRET], tolerance_s=tolerance, now=lambda: NOW)
    assert verifier.verify(signed_headers(BODY, timestamp=NOW + offset), BODY) == "msg_test_1"


def test_a_wider_tolerance_accepts_what_svix_would_refuse() -> None:
    verifier = SignatureVerifier([SECRET], tolerance_s=3600, now=lambda: NOW)
    assert verifier.verify(signed_headers(BODY, timestamp=NOW - 1800), BODY) == "msg_test_1"


def test_timestamp_is_checked_before_the_signature() -> None:
    headers = {**signed_headers(BODY, timestamp=NOW - 1000), "svix-signature": "v1,AAAA"}
    with pytest.raises(TimestampOutOfTolerance):
        frozen().verify(headers, BODY)


# -- body ----------------------------------------------------------------------------


def test_body_that_is_not_utf8_fails() -> None:
    body = b'{"type": "\xff"}'
    headers = signed_headers(b"{}", timestamp=NOW)
    with pytest.raises(BadSignature, match="not UTF-8"):
        frozen().verify(headers, body)


def test_non_ascii_body_is_signed_over_its_utf8_bytes() -> None:
    body = '{"first_name":"Zoë","last_name":"日本"}'.encode()
    assert frozen().verify(signed_headers(body, timestamp=NOW), body) == "msg_test_1"


# -- secrets -------------------------------------------------------------------------


def test_parse_secrets_splits_on_spaces_and_commas() -> None:
    text = f"  {SECRET}, {OTHER_SECRET}\n{SECRET},,"
    assert parse_secrets(text) == (SECRET, OTHER_SECRET)


def test_parse_secrets_of_nothing_is_empty() -> None:
    assert parse_secrets(" , ") == ()


def test_no_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SignatureVerifier([])


def test_invalid_secret_is_named_by_position_only() -> None:
    bad = "whsec_"
    with pytest.raises(ValueError, match="secret #2 ") as caught:
        SignatureVerifier([SECRET, bad])
    assert SECRET not in str(caught.value)


def test_secrets_do_not_appear_in_repr() -> None:
    verifier = SignatureVerifier([SECRET, OTHER_SECRET])
    text = repr(verifier)
    assert "2 secret(s)" in text
    assert SECRET.removeprefix("whsec_") not in text
    assert OTHER_SECRET.removeprefix("whsec_") not in text
