"""`RequestBudget`: the share of the instance's rate limit, and how requests are spaced.

Spacing is asserted as a lower bound (requests are never closer than the
budget allows), with an upper bound loose enough for a loaded 2-core machine.
"""

from __future__ import annotations

import time

import pytest

from service.reconcile import ClerkApi, InstanceLimit, RequestBudget, instance_limit
from service.reconcile.budget import DEVELOPMENT_LIMIT, PRODUCTION_LIMIT
from tests.reconcile.backend_double import BackendDouble
from tests.reconcile.conftest import list_all, settings


def test_the_key_prefix_tells_production_from_development() -> None:
    assert instance_limit("sk_live_abc") == PRODUCTION_LIMIT == InstanceLimit(1000, 10.0)
    assert instance_limit("sk_test_abc") == DEVELOPMENT_LIMIT == InstanceLimit(100, 10.0)
    assert instance_limit("something_else") == DEVELOPMENT_LIMIT  # the smaller guess


def test_the_default_share_is_a_fifth() -> None:
    assert RequestBudget(PRODUCTION_LIMIT).interval_s == pytest.approx(0.05)  # 200 per 10 s
    assert RequestBudget(DEVELOPMENT_LIMIT).interval_s == pytest.approx(0.5)  # 20 per 10 s
    assert RequestBudget(DEVELOPMENT_LIMIT, share=None).interval_s == 0


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_is_in_0_to_1(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        RequestBudget(PRODUCTION_LIMIT, share)


async def test_acquire_spaces_requests() -> None:
    budget = RequestBudget(InstanceLimit(100, window_s=1.0), share=0.2)  # 20 per second
    started = time.monotonic()
    for _ in range(11):
        await budget.acquire()
    elapsed = time.monotonic() - started
    assert 0.5 - 0.01 <= elapsed < 5.0  # ten intervals of 50 ms
    assert budget.waited_s >= 0.49


async def test_pause_holds_every_request() -> None:
    budget = RequestBudget(PRODUCTION_LIMIT, share=None)
    await budget.acquire()
    budget.pause(0.3)
    started = time.monotonic()
    await budget.acquire()
    assert 0.3 - 0.01 <= time.monotonic() - started < 5.0


async def test_a_listing_spends_only_its_share(double: BackendDouble, api_url: str) -> None:
    double.add("user", 45)
    budget = RequestBudget(InstanceLimit(50, window_s=1.0), share=0.2)  # 10 per second
    started = time.monotonic()
    async with ClerkApi(settings(api_url, page_size=10), budget=budget) as api:
        assert len(await list_all(api, "user")) == 45
    elapsed = time.monotonic() - started
    assert double.statuses() == [200] * 5
    assert 0.4 - 0.01 <= elapsed < 8.0  # five requests, four intervals of 100 ms
