"""clerkrelay: the Python client library for clerk-relay, with its generated protobuf code."""

from clerkrelay.catalog import EVENT_TYPES, LEGACY_EVENT_TYPES, case_name, payload_case

__all__ = ["EVENT_TYPES", "LEGACY_EVENT_TYPES", "case_name", "payload_case"]
