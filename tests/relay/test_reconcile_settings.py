"""Reconciliation's settings: read for `serve` and `grpc`, the key never shown."""

from __future__ import annotations

import argparse

import pytest

from clerkrelay.cli import main as cli_main
from clerkrelay.cli.settings import resolve
from relay.commands import _reconcile_line, service_settings
from relay.settings import GATEWAY, GRPC, SERVE
from relay.settings import SETTINGS as TABLE
from service.reconcile.settings import DEFAULT_INTERVAL_S, ReconcileSettings

KEY = "sk_live_" + "S3cretKeyThatMustNeverShow0123456789"
NAMES = {
    "clerk_secret_key",
    "clerk_api_url",
    "reconcile_interval",
    "reconcile_budget_share",
    "reconcile_max_delete_share",
}


def _settings(environ: dict[str, str], *argv: str) -> ReconcileSettings | None:
    parser = argparse.ArgumentParser()
    for setting in SERVE:
        setting.add_to(parser)
    args = parser.parse_args(list(argv))
    return service_settings(resolve(SERVE, args, environ)).reconcile


def test_the_processes_that_own_the_store_take_them_and_the_gateway_does_not() -> None:
    assert {s.name for s in SERVE} >= NAMES
    assert {s.name for s in GRPC} >= NAMES
    assert not NAMES & {s.name for s in GATEWAY}


def test_without_a_key_nothing_reconciles() -> None:
    assert _settings({}) is None


def test_the_defaults_with_a_key() -> None:
    found = _settings({"CLERK_SECRET_KEY": KEY})
    assert found == ReconcileSettings(secret_key=KEY)
    assert found is not None
    assert found.api_url == "https://api.clerk.com/v1"
    assert found.interval_s == DEFAULT_INTERVAL_S == 6 * 3600
    assert (found.budget_share, found.max_delete_share) == (0.2, 0.1)


def test_flags_and_variables() -> None:
    found = _settings(
        {
            "CLERK_SECRET_KEY": KEY,
            "CLERK_API_URL": "http://127.0.0.1:9/v1/",
            "CLERK_RELAY_RECONCILE_BUDGET_SHARE": "0.5",
        },
        "--reconcile-interval",
        "0",
        "--reconcile-max-delete-share",
        "0.25",
    )
    assert found == ReconcileSettings(
        secret_key=KEY,
        api_url="http://127.0.0.1:9/v1",
        interval_s=0,
        budget_share=0.5,
        max_delete_share=0.25,
    )


def test_the_key_is_in_no_repr_banner_or_help(capsys: pytest.CaptureFixture[str]) -> None:
    found = _settings({"CLERK_SECRET_KEY": KEY})
    assert found is not None
    service = service_settings(resolve(SERVE, argparse.Namespace(), {"CLERK_SECRET_KEY": KEY}))
    assert KEY[8:] not in repr(found) + repr(service)
    line = _reconcile_line(service)
    assert "every 6h" in line and "production key" in line and KEY[8:12] not in line
    with pytest.raises(SystemExit):
        cli_main.main(["serve", "--help"], {"CLERK_SECRET_KEY": KEY})
    assert KEY[8:] not in capsys.readouterr().out


def test_a_bad_key_is_refused_without_repeating_it(capsys: pytest.CaptureFixture[str]) -> None:
    bad = "pk_live_" + "PublishableNotSecret0123456789"
    assert cli_main.main(["grpc"], {"CLERK_SECRET_KEY": bad}) == 2
    err = capsys.readouterr().err
    assert err.startswith("clerk-relay: CLERK_SECRET_KEY: not a Clerk secret key")
    assert bad not in err and "Publishable" not in err


def test_every_new_setting_is_in_the_table() -> None:
    assert {s.name for s in TABLE} >= NAMES
