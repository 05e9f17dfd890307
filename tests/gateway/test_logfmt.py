"""logfmt values are bare when safe and quoted (with JSON escapes) otherwise."""

from __future__ import annotations

import pytest

from gateway.logfmt import logfmt_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("msg_2g7np7Hrk0SN6kj5EDMLDaKNL0S", "msg_2g7np7Hrk0SN6kj5EDMLDaKNL0S"),
        ("user.created", "user.created"),
        ("", '""'),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("Zoë", '"Zo\\u00eb"'),
    ],
)
def test_quoting(value: str, expected: str) -> None:
    assert logfmt_value(value) == expected


def test_long_values_are_cut() -> None:
    assert logfmt_value("x" * 300, limit=5) == '"xxxxx\\u2026"'
