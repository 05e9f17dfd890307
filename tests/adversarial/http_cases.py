"""Hostile webhooks: lying headers, encodings, nesting, numbers, sizes and envelopes.

The catalogue, in the order the suite sends it; each category lives in its
own `http_*_cases` module, built with `tests.adversarial.webhooks`.
"""

from __future__ import annotations

from tests.adversarial.cases import Case
from tests.adversarial.http_encoding_cases import encoding_cases
from tests.adversarial.http_envelope_cases import envelope_cases
from tests.adversarial.http_framing_cases import framing_cases
from tests.adversarial.http_header_cases import header_cases
from tests.adversarial.http_id_cases import id_cases, replay_cases
from tests.adversarial.http_number_cases import number_cases
from tests.adversarial.http_shape_cases import shape_cases
from tests.adversarial.http_size_cases import size_cases


def http_cases() -> list[Case]:
    """Every hostile webhook, the big bodies last (every later case reads them back)."""
    return [
        *header_cases(),
        *id_cases(),
        *framing_cases(),
        *encoding_cases(),
        *number_cases(),
        *shape_cases(),
        *envelope_cases(),
        *replay_cases(),
    ]


def big_http_cases() -> list[Case]:
    """The bodies near the size limit."""
    return size_cases()
