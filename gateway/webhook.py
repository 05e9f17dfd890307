"""`POST /webhooks/clerk`: read, verify, convert, publish; 2xx only once the event is durable.

Each step can reject the webhook with a short JSON reason, and a rejected
webhook publishes nothing:

| outcome | status | when |
|---|---|---|
| too_large | 413 | `Content-Length` or the bytes read exceed the limit |
| missing_headers | 400 | a `svix-*` (or `webhook-*`) header is absent |
| timestamp_out_of_tolerance | 401 | the signing time is too far from now |
| bad_signature | 401 | no signature matches any secret |
| id_too_long | 400 | the webhook id exceeds `MAX_WEBHOOK_ID_BYTES` (checked once verified) |
| invalid_json | 400 | the verified body is not JSON that can be kept exactly |
| not_an_object / no_type | 400 | the JSON is not a Clerk event envelope |
| type_too_long | 400 | the event type exceeds `MAX_EVENT_TYPE_BYTES` |
| refused | 400 | the ingest service refused the event as invalid (split deployment) |
| store_unavailable | 503 | the store failed or did not answer in time (Svix retries) |

A duplicate delivery answers 200 with `{"duplicate": true, "sequence": n}`; an
accepted one 200 with `{"sequence": n}` (and `"stale": true` when the store
kept it only in the log). Event types the contract does not know are accepted
like any other, and so is an event whose typed view cannot be built safely
(stored without its payload, `Event.payload_omission` saying why, and
counted). Every webhook gets one logfmt line on `clerk_relay.gateway`.

The endpoint is a plain ASGI application: the gateway serves this route ahead
of Starlette (`gateway.app`), reading the few headers it needs
straight from the ASGI scope and answering with two `send` calls: the
per-request objects a framework builds (request, headers, response) are a
measurable share of a webhook's CPU (bench: ingest profile).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clerkrelay.limits import MAX_EVENT_TYPE_BYTES, MAX_WEBHOOK_ID_BYTES
from clerkrelay.v1.event_pb2 import Event
from gateway.convert import Conversion, InvalidEnvelope, convert
from gateway.deadlines import Deadlines
from gateway.json_text import InvalidJson, parse_body
from gateway.logfmt import logfmt_value
from gateway.metrics import GatewayMetrics, Outcome
from gateway.publisher import Publisher, PublishRefused
from gateway.settings import GatewaySettings
from gateway.signature import SignatureError, SignatureVerifier
from service.storage import AppendResult, StoreUnavailable

__all__ = ["WebhookEndpoint", "json_response"]

_log = logging.getLogger("clerk_relay.gateway")


# The headers the webhook route reads; everything else in the scope is skipped.
_WANTED_HEADERS = frozenset(
    {
        b"content-length",
        b"svix-id",
        b"svix-timestamp",
        b"svix-signature",
        b"webhook-id",
        b"webhook-timestamp",
        b"webhook-signature",
    }
)
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def json_response(status_code: int, payload: Mapping[str, object]) -> Response:
    """A JSON response, serialized with orjson."""
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


class _Disconnected(Exception):
    """The client went away before sending the whole body."""


class _Rejected(Exception):
    """A webhook refused at some step; carries everything the answer and the log need."""

    def __init__(self, outcome: Outcome, status_code: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


class WebhookEndpoint:
    """The webhook route's handler; everything it can build once is built in `__init__`.

    Args:
        settings: The gateway's settings.
        verifier: Checks signatures against the configured secrets.
        publisher: Where verified events go.
        metrics: The app's metrics.
    """

    __slots__ = ("_deadlines", "_max_body_bytes", "_metrics", "_publisher", "_verifier")

    def __init__(
        self,
        settings: GatewaySettings,
        verifier: SignatureVerifier,
        publisher: Publisher,
        metrics: GatewayMetrics,
    ) -> None:
        self._max_body_bytes = settings.max_body_bytes
        self._deadlines = Deadlines(settings.publish_timeout_s)
        self._verifier = verifier
        self._publisher = publisher
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answers one webhook delivery (an ASGI `http` request)."""
        headers = _headers_of(scope)
        try:
            status_code, payload = await self._answer(headers, receive)
        except Exception:  # a bug: answer like Starlette would, and keep serving
            _log.exception("webhook_id=%s outcome=internal_error", _unverified_id(headers))
            status_code, payload = 500, {"error": "internal server error"}
        body = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status_code,
                "headers": [_JSON_CONTENT_TYPE, (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, headers: Mapping[str, str], receive: Receive
    ) -> tuple[int, Mapping[str, object]]:
        """The status and JSON answer for one webhook; counts and logs it."""
        started = time.perf_counter()
        receive_time_ns = time.time_ns()
        webhook_id = event_type = ""
        try:
            body = await self._read_body(headers, receive)
            webhook_id = self._verifier.verify(headers, body)
            if len(webhook_id.encode()) > MAX_WEBHOOK_ID_BYTES:
                raise _Rejected(
                    Outcome.ID_TOO_LONG, 400, f"webhook id over {MAX_WEBHOOK_ID_BYTES} bytes"
                )
            conversion = _convert(body, webhook_id, receive_time_ns)
            event_type = conversion.event.type
            result = await self._publish(conversion.event)
        except SignatureError as exc:
            rejected = _Rejected(Outcome(exc.outcome), exc.status_code, str(exc))
            return self._reject(headers, rejected, started, webhook_id, event_type)
        except _Rejected as rejected:
            return self._reject(headers, rejected, started, webhook_id, event_type)
        except _Disconnected:
            _log.info("webhook_id=%s outcome=client_disconnected", _unverified_id(headers))
            return 400, {"error": "client disconnected"}

        metrics = self._metrics
        latency_s = time.perf_counter() - started
        metrics.ingested(latency_s)
        if result.duplicate:
            outcome = Outcome.DUPLICATE
            payload: dict[str, int | bool] = {"duplicate": True, "sequence": result.sequence}
        else:
            outcome = Outcome.ACCEPTED
            payload = {"sequence": result.sequence}
            if result.stale:
                payload["stale"] = True
            if conversion.drift:
                metrics.drifted(event_type, len(conversion.drift))
            if conversion.event.payload_omission:
                metrics.omitted(conversion.event.payload_omission)
        metrics.received(outcome)
        metrics.sequence_seen(result.sequence)
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                "webhook_id=%s type=%s outcome=%s status=200 latency_ms=%.3f sequence=%d",
                logfmt_value(webhook_id),
                logfmt_value(event_type),
                outcome.value,
                latency_s * 1000.0,
                result.sequence,
            )
        return 200, payload

    async def _read_body(self, headers: Mapping[str, str], receive: Receive) -> bytes:
        """The raw body, refused as soon as it is known to exceed the limit.

        Nothing past the limit is ever pulled from the server.
        """
        limit = self._max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Rejected(Outcome.TOO_LARGE, 413, "body too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                raise _Disconnected()
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise _Rejected(Outcome.TOO_LARGE, 413, "body too large")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    async def _publish(self, event: Event) -> AppendResult:
        """Publishes within the timeout; any failure is a 503 so that Svix retries."""
        try:
            return await self._deadlines.run(self._publisher.publish(event))
        except TimeoutError:
            raise _Rejected(
                Outcome.STORE_UNAVAILABLE,
                503,
                "store unavailable",
                f"no answer within {self._deadlines.timeout_s:g} s",
            ) from None
        except StoreUnavailable as exc:
            raise _Rejected(Outcome.STORE_UNAVAILABLE, 503, "store unavailable", str(exc)) from exc
        except PublishRefused as exc:
            raise _Rejected(
                Outcome.REFUSED, 400, "refused by the ingest service", str(exc)
            ) from exc

    def _reject(
        self,
        headers: Mapping[str, str],
        rejected: _Rejected,
        started: float,
        webhook_id: str,
        event_type: str,
    ) -> tuple[int, Mapping[str, object]]:
        """Counts, logs and answers a rejected webhook."""
        self._metrics.received(rejected.outcome)
        level = logging.ERROR if rejected.status_code >= 500 else logging.WARNING
        if _log.isEnabledFor(level):
            detail = f" detail={logfmt_value(rejected.detail)}" if rejected.detail else ""
            _log.log(
                level,
                "webhook_id=%s type=%s outcome=%s status=%d latency_ms=%.3f reason=%s%s",
                logfmt_value(webhook_id or _unverified_id(headers)),
                logfmt_value(event_type),
                rejected.outcome.value,
                rejected.status_code,
                (time.perf_counter() - started) * 1000.0,
                logfmt_value(rejected.reason),
                detail,
            )
        return rejected.status_code, {"error": rejected.reason}


def _convert(body: bytes, webhook_id: str, receive_time_ns: int) -> Conversion:
    """Parses and types a verified body."""
    try:
        envelope = parse_body(body)
    except InvalidJson as exc:
        raise _Rejected(Outcome.INVALID_JSON, 400, str(exc)) from None
    try:
        conversion = convert(envelope, body, webhook_id, receive_time_ns)
    except InvalidEnvelope as exc:
        outcome = Outcome.NO_TYPE if isinstance(envelope, dict) else Outcome.NOT_AN_OBJECT
        raise _Rejected(outcome, 400, str(exc)) from None
    if len(conversion.event.type.encode()) > MAX_EVENT_TYPE_BYTES:
        raise _Rejected(Outcome.TYPE_TOO_LONG, 400, f"event type over {MAX_EVENT_TYPE_BYTES} bytes")
    return conversion


def _headers_of(scope: Scope) -> dict[str, str]:
    """The request headers the route reads, by lower-case name (the first of repeats).

    ASGI servers give header names in lower case; values are decoded as
    Latin-1, as Starlette does.
    """
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED_HEADERS:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _unverified_id(headers: Mapping[str, str]) -> str:
    """The webhook id header as sent, for the log of a webhook that was not verified."""
    return headers.get("svix-id") or headers.get("webhook-id") or ""
