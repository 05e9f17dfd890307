"""Realistic webhook bodies for benchmarks."""

from __future__ import annotations

import copy
from typing import Any

from clerkrelay.cli.samples import sample


def typical_user_created() -> dict[str, Any]:
    """A `user.created` shaped like a real sign-up (~3.5 KB, as in perf-limits.md).

    Two email addresses (one linked to Google), a phone number, a Google
    external account and non-empty metadata on top of Clerk's spec example.
    """
    envelope = sample("user.created")
    data = envelope["data"]
    now = 1_716_883_200_000
    verification = {
        "object": "verification_otp",
        "status": "verified",
        "strategy": "email_code",
        "attempts": 1,
        "expire_at": now + 600_000,
    }
    data["email_addresses"] = [
        {
            "id": f"idn_2g7np7Hrk0SN6kj5EDMLDaKNL{i}",
            "object": "email_address",
            "email_address": f"ada{i}@example.com",
            "reserved": False,
            "verification": dict(verification),
            "linked_to": [{"type": "oauth_google", "id": "idn_2g7np7Hrk0SN6kj5EDMLDaKNL9"}]
            if i == 0
            else [],
            "matches_sso_connection": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(2)
    ]
    data["phone_numbers"] = [
        {
            "id": "idn_2g7np7Hrk0SN6kj5EDMLDaKNLp",
            "object": "phone_number",
            "phone_number": "+15555550100",
            "reserved_for_second_factor": False,
            "default_second_factor": False,
            "reserved": False,
            "verification": dict(verification, strategy="phone_code"),
            "linked_to": [],
            "backup_codes": None,
            "created_at": now,
            "updated_at": now,
        }
    ]
    data["external_accounts"] = [
        {
            "object": "google_account",
            "id": "idn_2g7np7Hrk0SN6kj5EDMLDaKNL9",
            "provider": "oauth_google",
            "identification_id": "idn_2g7np7Hrk0SN6kj5EDMLDaKNL0",
            "provider_user_id": "113769128427393218419",
            "approved_scopes": "email openid profile",
            "email_address": "ada0@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "avatar_url": "https://lh3.googleusercontent.com/a/ACg8ocK",
            "image_url": "https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJodHRwcz",
            "username": None,
            "public_metadata": {},
            "label": None,
            "created_at": now,
            "updated_at": now,
            "verification": {
                "object": "verification_oauth",
                "status": "verified",
                "strategy": "oauth_google",
                "attempts": None,
                "expire_at": now + 600_000,
            },
        }
    ]
    data["public_metadata"] = {"plan": "pro", "seats": 5, "features": ["sso", "audit"]}
    data["private_metadata"] = {"stripe_customer_id": "cus_Q1w2e3r4t5y6u7", "tier": 2}
    data["unsafe_metadata"] = {"onboarding": {"completed": True, "step": 4}}
    return copy.deepcopy(envelope)
