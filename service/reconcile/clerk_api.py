"""A client of Clerk's Backend API that lists every object of a kind, completely.

`ClerkApi.list_all(kind)` yields the raw JSON objects (dicts) of one listing,
page after page, each id once; `ClerkApi.list_pages(kind, start)` yields the
same a page at a time, each with the position to resume from after it
(`service.reconcile.paging`). The endpoints and their paging are in
`service.reconcile.endpoints`; in short:

- Pages hold `page_size` objects, at most 500 (Clerk silently answers 10
  objects to a larger `limit`).
- Users follow the cursor `starting_after`, in `created_at` order: a user
  created during the listing comes after the last one listed, so it is
  listed too, once. Should Clerk refuse the cursor (its user deleted
  meanwhile), the listing goes on from the user before it.
- Every other kind pages by `offset`. Each page after the first starts a few
  objects (`OFFSET_OVERLAP`, a tenth of smaller pages) before the end of the
  previous one and must begin with an object already listed: if it does not,
  objects were deleted behind the listing and shifted the rest forward, so
  the page is asked again from further back. A short page ends the listing
  only when `total_count` agrees (or the page brought nothing new). Objects
  listed twice (the overlap, a rewind, shifts) are yielded once.
- Sessions, subscriptions and payment attempts have no instance-wide listing
  (see `service.reconcile.endpoints.UNLISTABLE_KINDS`).

Every request first takes its slot from a `RequestBudget` (a share of the
instance's rate limit). Failures, per request:

- 401/403: `BadKey`, naming only the key's prefix.
- 429: wait `Retry-After` seconds (at most `RetryPolicy.max_retry_after_s`),
  pausing the whole budget, then ask again; `ApiUnavailable` after
  `RetryPolicy.rate_limited_waits` of them for one request.
- 5xx and network errors: exponential backoff with jitter, then
  `ApiUnavailable` after `RetryPolicy.attempts` attempts.
- Any other 4xx: `RequestRejected` with the status, path and Clerk's reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

from gateway.json_text import InvalidJson, parse_body
from service.reconcile.budget import DEFAULT_SHARE, RequestBudget, instance_limit
from service.reconcile.counters import ApiCounters
from service.reconcile.endpoints import (
    LIST_ENDPOINTS,
    MAX_PAGE_SIZE,
    UNLISTABLE_KINDS,
    ListEndpoint,
)
from service.reconcile.errors import (
    ApiUnavailable,
    BadKey,
    RequestRejected,
    UnexpectedResponse,
)
from service.reconcile.paging import ListPosition

__all__ = [
    "DEFAULT_API_URL",
    "OFFSET_OVERLAP",
    "ApiObject",
    "ApiSettings",
    "ClerkApi",
    "ListedPage",
    "RetryPolicy",
]

DEFAULT_API_URL = "https://api.clerk.com/v1"

OFFSET_OVERLAP = 10
"""Objects each offset page repeats from the end of the previous one (fewer on small pages)."""

ApiObject = dict[str, Any]
"""One object as the Backend API sends it (its JSON, parsed)."""

_USER_AGENT = "clerk-relay (reconcile)"
_DEFAULT_RETRY_AFTER_S = 1.0
# What Clerk may answer to a `starting_after` whose user was deleted meanwhile.
_CURSOR_REFUSALS = frozenset({400, 404, 422})


@dataclass(frozen=True, slots=True)
class ListedPage:
    """One page of a listing.

    Attributes:
        objects: Its objects that the listing had not yielded before.
        position: Where the listing continues from after it.
    """

    objects: list[ApiObject]
    position: ListPosition


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a request is retried before its listing fails.

    Attributes:
        attempts: Attempts of one request after 5xx or network errors.
        base_s: The first backoff; each next one doubles, up to `cap_s`.
        cap_s: The longest backoff.
        max_retry_after_s: The longest wait a 429's `Retry-After` may impose.
        rate_limited_waits: 429s one request may wait out.
    """

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 60.0
    rate_limited_waits: int = 20

    def backoff_s(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failure: half fixed, half random."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Access to one instance's Backend API.

    Attributes:
        secret_key: `sk_live_…` or `sk_test_…`; never shown (not in the repr).
        api_url: The base URL, `https://api.clerk.com/v1` at Clerk.
        page_size: Objects per page, 1 to 500.
        budget_share: The share of the instance's rate limit to spend; None
            for no limit (a local double only).
        timeout_s: The timeout of each request (connect, read, write, pool).
        retry: How failures are retried.
    """

    secret_key: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    page_size: int = MAX_PAGE_SIZE
    budget_share: float | None = DEFAULT_SHARE
    timeout_s: float = 30.0
    retry: RetryPolicy = RetryPolicy()

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size is 1 to {MAX_PAGE_SIZE}, not {self.page_size}")


class ClerkApi:
    """Lists objects from Clerk's Backend API (see the module's docstring).

    Args:
        settings: The instance's API access.
        budget: The rate budget to spend; by default `settings.budget_share`
            of the limit the key's prefix implies. Pass one budget to several
            clients to make them share it.
        rng: The randomness of backoff jitter (seed it in tests).
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        budget: RequestBudget | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.budget = budget or RequestBudget(
            instance_limit(settings.secret_key), settings.budget_share
        )
        self.counters = ApiCounters()
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(
            base_url=settings.api_url,
            headers={
                "Authorization": f"Bearer {settings.secret_key}",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            timeout=settings.timeout_s,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._client.aclose()

    async def list_all(self, kind: str) -> AsyncIterator[ApiObject]:
        """Every object of `kind` (a registry kind name), each id once.

        Raises:
            ValueError: The kind has no instance-wide listing, or is unknown.
            ClerkApiError: The listing failed (see the module's docstring);
                the objects yielded before are not the whole kind.
        """
        async for page in self.list_pages(kind):
            for item in page.objects:
                yield item

    async def list_pages(
        self, kind: str, start: ListPosition | None = None
    ) -> AsyncIterator[ListedPage]:
        """The listing of `kind` page by page, from `start` (the beginning by default).

        Each page holds the objects not yielded before in this listing, and
        the position to continue from after it (`service.reconcile.paging`).

        Raises:
            ValueError: The kind has no instance-wide listing, or is unknown.
            ClerkApiError: The listing failed (see the module's docstring).
        """
        endpoint = LIST_ENDPOINTS.get(kind)
        if endpoint is None:
            reason = UNLISTABLE_KINDS.get(kind, "not a kind of the registry")
            raise ValueError(f"{kind!r} cannot be listed: {reason}")
        start = start or ListPosition()
        seen: set[str] = set(start.tail)
        if endpoint.cursor:
            pages = self._cursor_pages(endpoint, start)
        else:
            pages = self._offset_pages(endpoint, seen, start)
        async for page, position in pages:
            fresh: list[ApiObject] = []
            for item in page:
                if item["id"] in seen:
                    self.counters.duplicates[kind] += 1
                    continue
                seen.add(item["id"])
                self.counters.listed[kind] += 1
                fresh.append(item)
            yield ListedPage(fresh, position)

    async def _cursor_pages(
        self, endpoint: ListEndpoint, start: ListPosition
    ) -> AsyncIterator[tuple[list[ApiObject], ListPosition]]:
        """`starting_after` pages, until one holds fewer than `page_size` objects."""
        limit = self.settings.page_size
        cursors = list(start.tail)  # the last ids listed, the newest last
        while True:
            query = {**endpoint.params, "limit": str(limit)}
            if cursors:
                query["starting_after"] = cursors[-1]
            try:
                page, _ = await self._page(endpoint, query)
            except RequestRejected as error:
                if error.status not in _CURSOR_REFUSALS or len(cursors) < 2:
                    raise
                cursors.pop()  # its object is gone: go on from the one before
                continue
            ids = [item["id"] for item in page]
            if len(page) < limit:
                yield page, ListPosition(tail=tuple([*cursors, *ids][-OFFSET_OVERLAP:]))
                return
            cursors = ids[-OFFSET_OVERLAP:]
            yield page, ListPosition(tail=tuple(cursors))

    async def _offset_pages(
        self, endpoint: ListEndpoint, listed: set[str], start: ListPosition
    ) -> AsyncIterator[tuple[list[ApiObject], ListPosition]]:
        """Offset pages; `listed` holds the ids yielded so far (the caller adds them)."""
        limit = self.settings.page_size
        overlap = min(OFFSET_OVERLAP, max(1, limit // 10)) if limit > 1 else 0
        offset = start.offset
        while True:
            query = {**endpoint.params, "limit": str(limit), "offset": str(offset)}
            page, total = await self._page(endpoint, query)
            if overlap and offset and (not page or page[0]["id"] not in listed):
                # Objects before the offset were deleted: this page skipped some.
                self.counters.rewinds += 1
                offset = max(0, offset - (limit - overlap))
                continue
            brought_new = any(item["id"] not in listed for item in page)
            step = max(1, len(page) - overlap)
            tail = tuple(item["id"] for item in page[step:])
            yield page, ListPosition(offset + step, tail)
            # A short page is the end, unless total_count says there is more and the page
            # made progress (an object created between Clerk's count and its page, a cut page).
            more = total is not None and offset + len(page) < total and brought_new
            if len(page) < limit and not more:
                return
            offset += step

    async def _page(
        self, endpoint: ListEndpoint, query: Mapping[str, str]
    ) -> tuple[list[ApiObject], int | None]:
        """One page's objects and `total_count` (None for a bare array), shape checked."""
        body: object = await self._get(endpoint.path, query)
        if endpoint.enveloped:
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise UnexpectedResponse(f"GET {endpoint.path}: the body is not {{data: [...]}}")
            items: list[ApiObject] = body["data"]
            total = body.get("total_count")
            if not isinstance(total, int):
                total = None
            else:
                self.counters.totals[endpoint.kind] = total
        else:
            if not isinstance(body, list):
                raise UnexpectedResponse(f"GET {endpoint.path}: the body is not a JSON array")
            items, total = body, None
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise UnexpectedResponse(
                    f"GET {endpoint.path}: object {index} of a page is not an object with an id"
                )
        return items, total

    async def _get(self, path: str, query: Mapping[str, str]) -> Any:
        """The parsed JSON body of `GET path?query`, retried as the module's docstring says."""
        policy = self.settings.retry
        failures = 0
        rate_limited = 0
        while True:
            await self.budget.acquire()
            try:
                response = await self._client.get(path, params=query)
            except httpx.TransportError as error:
                self.counters.network_errors += 1
                failures += 1
                reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                await self._retry_or_fail(failures, f"GET {path} failed ({reason})")
                continue
            status = response.status_code
            self.counters.requests[status] += 1
            if status < 300:
                try:  # exactly, as a webhook's: metadata may hold integers over 64 bits
                    return parse_body(response.content)
                except InvalidJson as error:
                    raise UnexpectedResponse(f"GET {path}: {error}") from error
            if status in (401, 403):
                raise BadKey(self.settings.secret_key, status, path)
            if status == 429:
                rate_limited += 1
                if rate_limited > policy.rate_limited_waits:
                    raise ApiUnavailable(
                        f"GET {path} was rate-limited (HTTP 429) {rate_limited} times"
                    )
                wait_s = self._retry_after_s(response)
                self.counters.rate_limited_waits += 1
                self.counters.rate_limited_wait_s += wait_s
                self.budget.pause(wait_s)
                continue
            if status >= 500:
                failures += 1
                await self._retry_or_fail(failures, f"GET {path} answered HTTP {status}")
                continue
            raise RequestRejected(status, path, _clerk_reason(response))

    async def _retry_or_fail(self, failures: int, what: str) -> None:
        """Waits before the next attempt, or raises when there is none left."""
        policy = self.settings.retry
        if failures >= policy.attempts:
            raise ApiUnavailable(f"{what}; gave up after {failures} attempts")
        self.counters.retries += 1
        await asyncio.sleep(policy.backoff_s(failures, self._rng))

    def _retry_after_s(self, response: httpx.Response) -> float:
        """A 429's `Retry-After` (seconds or an HTTP date), within the policy's bounds."""
        value = response.headers.get("Retry-After", "").strip()
        seconds = _DEFAULT_RETRY_AFTER_S
        if value:
            try:
                seconds = float(value)
            except ValueError:
                try:
                    moment = email.utils.parsedate_to_datetime(value)
                    seconds = moment.timestamp() - time.time()
                except (TypeError, ValueError):
                    seconds = _DEFAULT_RETRY_AFTER_S
        return min(max(seconds, 0.0), self.settings.retry.max_retry_after_s)


def _clerk_reason(response: httpx.Response) -> str:
    """Clerk's first error (`code: long_message`), or the start of the body."""
    try:
        body = orjson.loads(response.content)
        error = body["errors"][0]
        return f"{error['code']}: {error.get('long_message') or error['message']}"
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return response.text[:200] or "(no body)"
