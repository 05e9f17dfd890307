"""ServiceSettings: defaults and validation (the environment and flags: tests/relay)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import service.settings
from service.auth import Role
from service.settings import ServiceSettings
from service.storage import Retention
from service.subscription import StreamLimits


def test_defaults() -> None:
    settings = ServiceSettings()
    assert settings.grpc_addr == "127.0.0.1:50051"
    assert settings.database_url == "sqlite:///./clerk-relay.db"
    assert settings.tokens == {}
    assert (settings.tls_cert_file, settings.tls_key_file) == (None, None)
    assert settings.heartbeat_interval_s == 5.0
    assert settings.checkpoint_every == 1000
    assert settings.checkpoint_interval_s == 5.0
    assert settings.live_buffer_events == 1024
    assert settings.max_batch_events == 500
    assert settings.max_batch_bytes == 1024 * 1024
    assert settings.shutdown_grace_s == 5.0
    assert settings.retention == Retention()
    assert settings.expose_ingest is True
    assert not settings.auth_enabled and not settings.tls_enabled


def test_stream_defaults_are_the_stream_limits() -> None:
    settings, limits = ServiceSettings(), StreamLimits()
    assert settings.stream_limits() == replace(
        limits, catch_up_read_events=settings.stream_limits().catch_up_read_events
    )


def test_tokens_are_not_in_repr() -> None:
    assert "s3cret" not in repr(ServiceSettings(tokens={"s3cret": Role.ADMIN}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grpc_addr": "localhost"}, "host:port"),
        ({"tls_cert_file": Path("c.pem")}, "both"),
        ({"tls_key_file": Path("k.pem")}, "both"),
        ({"tokens": ("",)}, "tokens"),
        ({"tokens": ("a b",)}, "tokens"),
        ({"heartbeat_interval_s": 0}, "heartbeat_interval_s"),
        ({"checkpoint_interval_s": -1}, "checkpoint_interval_s"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"live_buffer_events": 0}, "live_buffer_events"),
        ({"max_batch_events": 0}, "max_batch_events"),
        ({"max_batch_bytes": 0}, "max_batch_bytes"),
        ({"shutdown_grace_s": -1}, "shutdown_grace_s"),
    ],
)
def test_invalid_values_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServiceSettings(**changes)  # type: ignore[arg-type]


def test_public_surface_is_pinned() -> None:
    assert sorted(service.settings.__all__) == [
        "DEFAULT_GRPC_ADDR",
        "ServiceSettings",
    ]
