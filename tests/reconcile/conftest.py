"""Fixtures of the reconciliation tests: the Backend API double, served, clients of it, and stores.

`mirror` is a store of each backend in turn (SQLite always, PostgreSQL marked
`postgres`), from the contract suite's fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.reconcile import ApiObject, ApiSettings, ClerkApi, RetryPolicy
from service.storage import Store
from tests.contract import conftest as contract
from tests.contract.conftest import StoreFactory
from tests.reconcile.backend_double import SECRET_KEY, BackendDouble

backend = contract.backend
store_factory = contract.store_factory

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05, max_retry_after_s=5.0)
"""Backoffs of milliseconds, so that retry tests are quick."""


@pytest.fixture
def double() -> BackendDouble:
    """A double with no objects and no faults (tests add what they need)."""
    return BackendDouble()


@pytest.fixture
async def mirror(store_factory: StoreFactory) -> Store:
    """A fresh, empty store of the backend under test: the mirror a pass reconciles."""
    return await store_factory()


@pytest.fixture
def api_url(double: BackendDouble) -> Iterator[str]:
    """The double, served on loopback: its base URL."""
    with double.serve() as url:
        yield url


def settings(api_url: str, **overrides: Any) -> ApiSettings:
    """Settings for the double: its key, no rate budget, quick retries."""
    values: dict[str, Any] = {
        "secret_key": SECRET_KEY,
        "api_url": api_url,
        "budget_share": None,
        "retry": FAST_RETRY,
    }
    values.update(overrides)
    return ApiSettings(**values)


async def list_all(api: ClerkApi, kind: str) -> list[ApiObject]:
    """Every object one listing yields, in order."""
    return [item async for item in api.list_all(kind)]


# The relay's fixture, defined with its helpers (they import this module's names).
from tests.reconcile.relay_helpers import start_relay  # noqa: E402, F401
