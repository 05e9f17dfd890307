"""What became of one webhook: the outcomes the metrics, the log line and the ingest chart name."""

from __future__ import annotations

import enum

__all__ = ["Outcome"]


class Outcome(enum.StrEnum):
    """What became of one webhook: the `outcome` label of the metrics and the log line."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    BAD_SIGNATURE = "bad_signature"
    TIMESTAMP_OUT_OF_TOLERANCE = "timestamp_out_of_tolerance"
    MISSING_HEADERS = "missing_headers"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    NO_TYPE = "no_type"
    ID_TOO_LONG = "id_too_long"
    TYPE_TOO_LONG = "type_too_long"
    TOO_LARGE = "too_large"
    REFUSED = "refused"
    STORE_UNAVAILABLE = "store_unavailable"
