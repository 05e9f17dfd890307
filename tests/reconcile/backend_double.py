"""A double of Clerk's Backend API list endpoints, served for real on loopback.

`BackendDouble.serve()` runs a Starlette app under uvicorn on 127.0.0.1, port
0, in a thread of its own, and yields the base URL (`http://127.0.0.1:N/v1`).
It follows Clerk's contract as its spec and docs state it:

- `Authorization: Bearer <secret key>`; any other key gets 401 (403 for a key
  in `forbidden_keys`), with Clerk's `{errors: [...]}` body.
- `/users` answers a bare array; every other list `{data, total_count}`.
- `limit` 1–500, default 10; a `limit` above 500 silently gives 10 (as Clerk
  does); `offset` ≥ 0; anything else is 422.
- `order_by` with `+`/`-` (default `-created_at`), ties broken by id.
- `starting_after` (users only) needs a `created_at` order and no offset
  (422 otherwise). An id that no longer exists is also 422: Clerk's answer
  to that is not documented; this is the double's guess.
- Faults: seeded random 429 (with `Retry-After`) and 5xx, and scripted ones
  (`fail_next`).

Tests change the objects at any time (`add`, `remove`, `update`), also
during a listing through `on_request`, a hook run before each answer. Every
exchange is recorded (`exchanges`), bodies included, so that the tests can
validate them against the spec. Order by fields other than `created_at`
sorts by the top-level value of that name (None first).
"""

from __future__ import annotations

import bisect
import contextlib
import random
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.reconcile.double_objects import clerk_id, id_prefix, new_object

__all__ = ["DOUBLE_PATHS", "BackendDouble", "Exchange", "Faults"]

ApiObject = dict[str, Any]

SECRET_KEY = "sk_test_" + "D0ubleKeyForTests0123456789abcdefghijklmn"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# path → (kind, order_by fields Clerk accepts there; empty: no order_by parameter)
DOUBLE_PATHS: Mapping[str, tuple[str, frozenset[str]]] = {
    "/users": (
        "user",
        _names(
            "created_at updated_at email_address web3wallet first_name last_name phone_number"
            " username last_active_at last_sign_in_at"
        ),
    ),
    "/organizations": ("organization", _names("name created_at members_count")),
    "/organization_memberships": (
        "organization_membership",
        _names("phone_number email_address created_at first_name last_name username"),
    ),
    "/organization_invitations": ("organization_invitation", _names("created_at email_address")),
    "/organization_domains": ("organization_domain", _names("name created_at")),
    "/organization_roles": ("role", _names("created_at name key")),
    "/organization_permissions": ("permission", _names("created_at name key")),
    "/waitlist_entries": ("waitlist_entry", _names("created_at email_address invited_at")),
    "/billing/subscription_items": ("subscription_item", frozenset()),
}
_KIND_PATHS = {kind: path for path, (kind, _) in DOUBLE_PATHS.items()}


@dataclass(frozen=True, slots=True)
class Faults:
    """Random failures, drawn from a seeded generator per request.

    Attributes:
        rate_limit_rate: The chance of a 429.
        retry_after_s: The 429's `Retry-After`.
        error_rate: The chance of a 5xx.
        error_status: Which 5xx.
        seed: The generator's seed.
    """

    rate_limit_rate: float = 0.0
    retry_after_s: int = 1
    error_rate: float = 0.0
    error_status: int = 503
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the double answered."""

    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body, parsed."""
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    retry_after_s: int | None = None
    body: bytes = b""


class _Collection:
    """One kind's objects, kept sorted by (created_at, id)."""

    def __init__(self) -> None:
        self.by_id: dict[str, ApiObject] = {}
        self.keys: list[tuple[int, str]] = []

    def put(self, item: ApiObject) -> None:
        old = self.by_id.get(item["id"])
        if old is not None:
            self.keys.pop(bisect.bisect_left(self.keys, (old["created_at"], old["id"])))
        self.by_id[item["id"]] = item
        bisect.insort(self.keys, (item["created_at"], item["id"]))

    def drop(self, object_id: str) -> None:
        old = self.by_id.pop(object_id)
        self.keys.pop(bisect.bisect_left(self.keys, (old["created_at"], old["id"])))


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after_s = retry_after_s


class BackendDouble:
    """The double's objects, faults and app (see the module's docstring).

    Args:
        secret_key: The key it accepts.
        faults: Random failures; none by default.
        seed: The seed of generated ids.
        record_bodies: Keep every answer's body in `exchanges` (off for big listings).
    """

    def __init__(
        self,
        secret_key: str = SECRET_KEY,
        *,
        faults: Faults | None = None,
        seed: int = 0,
        record_bodies: bool = True,
    ) -> None:
        self.secret_key = secret_key
        self.forbidden_keys: set[str] = set()
        self.faults = faults or Faults()
        self.record_bodies = record_bodies
        self.on_request: Callable[[str, Mapping[str, str]], None] | None = None
        self.exchanges: list[Exchange] = []
        self._lock = threading.RLock()
        self._ids = random.Random(seed)
        self._fault_rng = random.Random(self.faults.seed)
        self._script: deque[_Scripted] = deque()
        self._clock_ms = 1_716_883_200_000
        self._collections = {kind: _Collection() for kind in _KIND_PATHS}
        self.app = Starlette(routes=[Route("/v1/{path:path}", self._endpoint)])

    # -- objects -------------------------------------------------------------------

    def add(self, kind: str, count: int = 1, **fields: Any) -> list[ApiObject]:
        """Creates `count` objects of `kind`, each newer than every object so far."""
        made = []
        with self._lock:
            for _ in range(count):
                self._clock_ms += 1
                object_id = clerk_id(id_prefix(kind), self._clock_ms, self._ids)
                item = new_object(kind, object_id, self._clock_ms, fields)
                self._collections[kind].put(item)
                made.append(item)
        return made

    def update(self, kind: str, object_id: str, **fields: Any) -> ApiObject:
        """Changes an object's fields and moves its `updated_at` on."""
        with self._lock:
            self._clock_ms += 1
            item = dict(self._collections[kind].by_id[object_id], **fields)
            item["updated_at"] = self._clock_ms
            self._collections[kind].put(item)
            return item

    def remove(self, kind: str, object_id: str) -> None:
        """Deletes an object."""
        with self._lock:
            self._collections[kind].drop(object_id)

    def objects(self, kind: str) -> list[ApiObject]:
        """A kind's objects, oldest first."""
        with self._lock:
            collection = self._collections[kind]
            return [collection.by_id[object_id] for _, object_id in collection.keys]

    def fail_next(self, status: int, times: int = 1, retry_after_s: int | None = None) -> None:
        """Answers the next `times` authorized requests with `status` and Clerk's error body."""
        with self._lock:
            self._script.extend([_Scripted(status, retry_after_s)] * times)

    def answer_next(self, body: bytes) -> None:
        """Answers the next authorized request with 200 and `body`, whatever it asked."""
        with self._lock:
            self._script.append(_Scripted(200, body=body))

    def statuses(self) -> list[int]:
        """The status of every answer so far, in order."""
        with self._lock:
            return [exchange.status for exchange in self.exchanges]

    # -- serving -------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serves the double on 127.0.0.1 in a thread; yields the API's base URL."""
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        server = _Server(config)
        thread = threading.Thread(target=server.run, name="backend-double", daemon=True)
        thread.start()
        try:
            for _ in range(1000):
                if server.started or not thread.is_alive():
                    break
                threading.Event().wait(0.01)
            assert server.started, "the double's server did not start"
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.should_exit = True
            thread.join(10)

    async def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        query = dict(request.query_params)
        if self.on_request is not None:
            self.on_request(path, query)
        headers: dict[str, str] = {}
        with self._lock:
            try:
                status, body = 200, self._answer(request, path, query)
            except _Refusal as refusal:
                status = refusal.status
                if refusal.status == 429:
                    headers["Retry-After"] = str(refusal.retry_after_s)
                body = _errors(refusal)
            self.exchanges.append(
                Exchange(
                    path,
                    tuple(request.query_params.multi_items()),
                    status,
                    body if self.record_bodies or status != 200 else b"",
                    headers,
                )
            )
        return Response(body, status, headers, media_type="application/json")

    def _answer(self, request: Request, path: str, query: Mapping[str, str]) -> bytes:
        authorization = request.headers.get("authorization", "")
        key = authorization.removeprefix("Bearer ")
        if key in self.forbidden_keys:
            raise _Refusal(403, "authorization_invalid", "Unauthorized request")
        if authorization != f"Bearer {self.secret_key}":
            raise _Refusal(401, "authentication_invalid", "Invalid authentication")
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if path not in DOUBLE_PATHS:
            raise _Refusal(404, "resource_not_found", "Resource not found")
        kind, orders = DOUBLE_PATHS[path]
        page, total = self._page(kind, orders, query)
        if kind == "user":
            return orjson.dumps(page)
        return orjson.dumps({"data": page, "total_count": total})

    def _scripted(self) -> bytes | None:
        """A scripted or random fault's answer: raises it, or returns a scripted body."""
        scripted = self._script.popleft() if self._script else None
        faults = self.faults
        if scripted is None and self._fault_rng.random() < faults.rate_limit_rate:
            scripted = _Scripted(429, faults.retry_after_s)
        if scripted is None and self._fault_rng.random() < faults.error_rate:
            scripted = _Scripted(faults.error_status)
        if scripted is None:
            return None
        if scripted.status == 200:
            return scripted.body
        if scripted.status == 429:
            after = scripted.retry_after_s
            after = faults.retry_after_s if after is None else after
            raise _Refusal(429, "too_many_requests", "Too many requests", after)
        raise _Refusal(scripted.status, "internal_clerk_error", "Oops, something went wrong")

    def _page(
        self, kind: str, orders: frozenset[str], query: Mapping[str, str]
    ) -> tuple[list[ApiObject], int]:
        limit = _integer(query, "limit", 10, minimum=1)
        if limit > 500:
            limit = 10  # Clerk's documented pitfall: no error, ten objects
        offset = _integer(query, "offset", 0, minimum=0)
        order = query.get("order_by", "-created_at") if orders else "-created_at"
        descending = order.startswith("-")
        order_field = order.lstrip("+-")
        if order_field not in orders | {"created_at"}:
            raise _Refusal(422, "form_param_value_invalid", f"order_by {order!r} is not supported")
        collection = self._collections[kind]
        keys = collection.keys if not descending else collection.keys[::-1]
        if order_field != "created_at":
            keys = sorted(
                keys, key=lambda key: _sort_value(collection.by_id[key[1]], order_field, key)
            )
            if descending:
                keys.reverse()
        cursor = query.get("starting_after")
        if cursor is not None:
            if kind != "user":
                raise _Refusal(422, "form_param_unknown", "starting_after is not supported here")
            if order_field != "created_at" or offset:
                raise _Refusal(
                    422, "form_param_value_invalid", "starting_after needs created_at order"
                )
            if cursor not in collection.by_id:
                raise _Refusal(422, "form_param_value_invalid", "starting_after: no such user")
            cursor_key = (collection.by_id[cursor]["created_at"], cursor)
            position = bisect.bisect_right(collection.keys, cursor_key)
            offset = len(keys) - position + 1 if descending else position
        chosen = keys[offset : offset + limit]
        return [collection.by_id[object_id] for _, object_id in chosen], len(keys)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers (it runs in a thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _integer(query: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _Refusal(422, "form_param_format_invalid", f"{name} is not an integer") from None
    if value < minimum:
        raise _Refusal(422, "form_param_value_invalid", f"{name} is below {minimum}")
    return value


def _sort_value(item: ApiObject, name: str, key: tuple[int, str]) -> tuple[bool, str, int, str]:
    value = item.get(name)
    return (value is not None, "" if value is None else str(value), *key)


def _errors(refusal: _Refusal) -> bytes:
    """Clerk's error body."""
    error = {
        "message": refusal.message,
        "long_message": refusal.message,
        "code": refusal.code,
    }
    return orjson.dumps({"errors": [error], "clerk_trace_id": "double"})
