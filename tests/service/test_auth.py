"""Bearer tokens and TLS on a real server: none, wrong, right; health open; self-signed TLS."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import service.auth
from clerkrelay.v1.state_service_pb2 import GetUserRequest, ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from service.auth import AuthInterceptor, Role, load_tokens, parse_tokens, read_token_file
from service.settings import ServiceSettings
from service.storage.sqlite import SqliteStore
from tests.history import event
from tests.service.conftest import OpenChannel, StartServer, reflection_v1

TOKENS = ("tok-alpha-0123456789", "tok-beta-9876543210")
SUBSCRIBERS = dict.fromkeys(TOKENS, Role.SUBSCRIBER)


async def status_of(pending: Awaitable[object]) -> grpc.StatusCode:
    try:
        await pending
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.fixture
async def guarded(start_server: StartServer, open_channel: OpenChannel) -> grpc.aio.Channel:
    server, target = await start_server(ServiceSettings(tokens=SUBSCRIBERS))
    assert server.auth_enabled and not server.tls_enabled
    return open_channel(target)


# -- tokens over the wire -------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "expected", "details"),
    [
        ((), grpc.StatusCode.UNAUTHENTICATED, "missing bearer token"),
        ((("authorization", "Bearer wrong"),), grpc.StatusCode.UNAUTHENTICATED, "invalid"),
        ((("authorization", f"Bearer {TOKENS[0]}x"),), grpc.StatusCode.UNAUTHENTICATED, "invalid"),
        ((("authorization", TOKENS[0]),), grpc.StatusCode.UNAUTHENTICATED, "invalid"),
        ((("authorization", f"Basic {TOKENS[0]}"),), grpc.StatusCode.UNAUTHENTICATED, "invalid"),
        ((("authorization", "Bearer "),), grpc.StatusCode.UNAUTHENTICATED, "invalid"),
        ((("authorization", f"Bearer {TOKENS[0]}"),), grpc.StatusCode.OK, None),
        ((("authorization", f"Bearer {TOKENS[1]}"),), grpc.StatusCode.OK, None),
        ((("authorization", f"bearer {TOKENS[1]}"),), grpc.StatusCode.OK, None),
    ],
    ids=["none", "wrong", "prefix", "no-scheme", "basic", "empty", "first", "second", "lower"],
)
async def test_tokens(
    metadata: tuple[tuple[str, str], ...],
    expected: grpc.StatusCode,
    details: str | None,
    guarded: grpc.aio.Channel,
    store: SqliteStore,
) -> None:
    await store.append(event("user.created", "user_1"))
    call = StateServiceStub(guarded).GetUser(GetUserRequest(id="user_1"), metadata=metadata)
    try:
        response = await call
    except grpc.aio.AioRpcError as error:
        assert error.code() == expected
        assert details is not None and details in (error.details() or "")
        return
    assert expected == grpc.StatusCode.OK
    assert response.record.user.id == "user_1"


async def test_health_needs_no_token(guarded: grpc.aio.Channel) -> None:
    response = await health_pb2_grpc.HealthStub(guarded).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_needs_a_token(guarded: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(guarded)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    async def ask(metadata: tuple[tuple[str, str], ...]) -> None:
        call = stub.ServerReflectionInfo(iter([request]), metadata=metadata)
        async for _ in call:
            pass

    assert await status_of(ask(())) == grpc.StatusCode.UNAUTHENTICATED
    assert await status_of(ask((("authorization", f"Bearer {TOKENS[0]}"),))) == grpc.StatusCode.OK

    async def ask_v1(metadata: tuple[tuple[str, str], ...]) -> None:
        async for _ in reflection_v1(guarded)(iter([request]), metadata=metadata):
            pass

    assert await status_of(ask_v1(())) == grpc.StatusCode.UNAUTHENTICATED
    bearer = (("authorization", f"Bearer {TOKENS[0]}"),)
    assert await status_of(ask_v1(bearer)) == grpc.StatusCode.OK


async def test_streaming_rpcs_are_refused_too(
    start_server: StartServer, open_channel: OpenChannel
) -> None:
    async def stream(request: bytes, context: object) -> object:  # pragma: no cover - refused
        yield request

    handler = grpc.method_handlers_generic_handler(
        "test.Stream", {"Echo": grpc.unary_stream_rpc_method_handler(stream)}
    )
    _, target = await start_server(ServiceSettings(tokens=SUBSCRIBERS), extra_handlers=[handler])
    call = open_channel(target).unary_stream("/test.Stream/Echo", None, None)(b"x")

    async def drain() -> None:
        async for _ in call:
            pass

    assert await status_of(drain()) == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_method_without_token_is_unauthenticated(guarded: grpc.aio.Channel) -> None:
    call = guarded.unary_unary("/nope.Nothing/Nada", None, None)(b"")
    assert await status_of(call) == grpc.StatusCode.UNAUTHENTICATED


async def test_no_tokens_means_no_auth(channel: grpc.aio.Channel) -> None:
    response = await StateServiceStub(channel).ListUsers(ListUsersRequest())
    assert response.snapshot_sequence == 0


# -- token loading --------------------------------------------------------------------


def test_parse_tokens_splits_on_commas_and_whitespace() -> None:
    assert parse_tokens(" a,b  c\n,,d\t") == ("a", "b", "c", "d")
    assert parse_tokens("") == ()


def test_read_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(
        "# service tokens\n\n  alpha  \n#beta\nsecond-one\ningest gw-1\nadmin  ops-1\n"
        "subscriber sub-2\n",
        encoding="utf-8",
    )
    assert read_token_file(path) == {
        "alpha": Role.SUBSCRIBER,
        "second-one": Role.SUBSCRIBER,
        "gw-1": Role.INGEST,
        "ops-1": Role.ADMIN,
        "sub-2": Role.SUBSCRIBER,
    }


@pytest.mark.parametrize("line", ["alpha beta", "owner tok", "ingest a b"])
def test_token_file_line_that_is_not_a_token_with_a_role_is_an_error(
    tmp_path: Path, line: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokens:1: expected '<token>' or '<role> <token>'"):
        read_token_file(path)


def test_missing_token_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read token file"):
        read_token_file(tmp_path / "nope")


def test_load_tokens_merges_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("alpha\nbeta\n", encoding="utf-8")
    assert load_tokens(path, "beta, gamma", ingest="gw", admin="ops") == {
        "alpha": Role.SUBSCRIBER,
        "beta": Role.SUBSCRIBER,
        "gamma": Role.SUBSCRIBER,
        "gw": Role.INGEST,
        "ops": Role.ADMIN,
    }
    assert load_tokens(None, None) == {}


def test_one_token_with_two_roles_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"a token is given two roles \(subscriber and ingest\)"):
        load_tokens(None, "same", ingest="same")


def test_interceptor_without_tokens_has_auth_off() -> None:
    assert not AuthInterceptor({}).auth_enabled
    assert AuthInterceptor(SUBSCRIBERS).auth_enabled


def test_accepts() -> None:
    interceptor = AuthInterceptor(SUBSCRIBERS)
    assert interceptor.accepts(f"Bearer {TOKENS[1]}")
    assert interceptor.accepts(f"  BEARER   {TOKENS[0]} ")
    assert not interceptor.accepts(None)
    assert not interceptor.accepts("Bearer")
    assert not interceptor.accepts(f"Bearer {TOKENS[0][:-1]}")
    assert not interceptor.accepts("Bearer é")


# -- TLS ------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, made by the openssl command line.

    (The `cryptography` package is not installed in this environment.)
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


async def test_tls_with_a_self_signed_certificate(
    certificate: tuple[Path, Path],
    start_server: StartServer,
    open_channel: OpenChannel,
    store: SqliteStore,
) -> None:
    cert, key = certificate
    server, target = await start_server(ServiceSettings(tls_cert_file=cert, tls_key_file=key))
    assert server.tls_enabled and not server.auth_enabled
    await store.append(event("user.created", "user_1"))
    trusted = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    response = await StateServiceStub(open_channel(target, trusted)).GetUser(
        GetUserRequest(id="user_1"), timeout=10
    )
    assert response.record.user.id == "user_1"

    plaintext = StateServiceStub(open_channel(target)).GetUser(
        GetUserRequest(id="user_1"), timeout=5
    )
    assert await status_of(plaintext) == grpc.StatusCode.UNAVAILABLE

    untrusted = grpc.ssl_channel_credentials()  # the system roots do not know this certificate
    refused = StateServiceStub(open_channel(target, untrusted)).GetUser(
        GetUserRequest(id="user_1"), timeout=5
    )
    assert await status_of(refused) == grpc.StatusCode.UNAVAILABLE


async def test_tls_with_tokens_as_call_credentials(
    certificate: tuple[Path, Path], start_server: StartServer, open_channel: OpenChannel
) -> None:
    cert, key = certificate
    settings = ServiceSettings(tls_cert_file=cert, tls_key_file=key, tokens=SUBSCRIBERS)
    server, target = await start_server(settings)
    assert server.tls_enabled and server.auth_enabled
    trusted = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with_token = grpc.composite_channel_credentials(
        trusted, grpc.access_token_call_credentials(TOKENS[1])
    )
    ok = StateServiceStub(open_channel(target, with_token)).ListUsers(ListUsersRequest())
    assert await status_of(ok) == grpc.StatusCode.OK
    without = StateServiceStub(open_channel(target, trusted)).ListUsers(ListUsersRequest())
    assert await status_of(without) == grpc.StatusCode.UNAUTHENTICATED


def test_unreadable_tls_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read TLS certificate"):
        service.auth.server_credentials(tmp_path / "cert.pem", tmp_path / "key.pem")


def test_public_surface_is_pinned() -> None:
    assert sorted(service.auth.__all__) == [
        "AuthInterceptor",
        "HEALTH_SERVICE",
        "Role",
        "is_local_peer",
        "load_tokens",
        "parse_tokens",
        "read_token_file",
        "server_credentials",
    ]
