"""Signed webhooks posted to a real relay, as Svix would deliver them (retries included)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from clerkrelay.cli.samples import sample
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET


class WebhookSender:
    """Posts Clerk's example of an event type, with chosen ids, to a relay's webhook URL.

    Args:
        http: The HTTP client (owned by the caller).
        url: The relay's `/webhooks/clerk` URL.
    """

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    async def send(
        self,
        event_type: str,
        entity_id: str,
        *,
        webhook_id: str | None = None,
        at: int | None = None,
        retry_for_s: float = 0.0,
        **data: Any,
    ) -> tuple[str, int]:
        """Delivers one event; returns its webhook id and the sequence the relay gave it.

        Like Svix, a delivery that fails (no connection, 5xx) is retried with
        the same webhook id, for up to `retry_for_s` seconds.
        """
        env, webhook_id = envelope(
            event_type, entity_id, at or time.time_ns() // 1_000_000, webhook_id, **data
        )
        body = orjson.dumps(env)
        deadline = time.monotonic() + retry_for_s
        while True:
            try:
                response = await self._http.post(
                    self._url,
                    content=body,
                    headers=signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,)),
                )
                if response.status_code == 200:
                    sequence: int = response.json()["sequence"]
                    return webhook_id, sequence
                failure = f"HTTP {response.status_code}: {response.text}"
                if response.status_code < 500:
                    raise AssertionError(failure)
            except httpx.TransportError as error:
                failure = repr(error)
            if time.monotonic() >= deadline:
                raise AssertionError(f"{webhook_id} not accepted: {failure}")
            await asyncio.sleep(0.05)

    async def users(self, count: int, prefix: str = "user") -> list[int]:
        """Creates `count` users (`{prefix}_0`, …); returns their sequences."""
        return [(await self.send("user.created", f"{prefix}_{i}"))[1] for i in range(count)]

    async def membership(
        self,
        event_type: str,
        membership_id: str,
        organization_id: str,
        user_id: str,
        *,
        role: str = "org:member",
        retry_for_s: float = 0.0,
    ) -> tuple[str, int]:
        """Delivers an `organizationMembership.*` event linking a user to an organization."""
        base = sample(event_type)["data"]
        return await self.send(
            event_type,
            membership_id,
            retry_for_s=retry_for_s,
            organization=dict(base["organization"], id=organization_id),
            public_user_data=dict(base["public_user_data"], user_id=user_id),
            role=role,
        )
