"""Hostile gRPC calls: wrong tokens and roles, forged and contradictory Publish calls, bad reads.

The catalogue, in the order the suite sends it; each category lives in its
own `grpc_*_cases` module, built with `tests.adversarial.grpc_calls`.
"""

from __future__ import annotations

from tests.adversarial.cases import Case
from tests.adversarial.grpc_auth_cases import auth_cases
from tests.adversarial.grpc_publish_cases import forged_publish_cases
from tests.adversarial.grpc_read_cases import read_cases


def grpc_cases() -> list[Case]:
    """Every hostile gRPC call."""
    return [*auth_cases(), *forged_publish_cases(), *read_cases()]
