"""The client's public surface is pinned, documented, and covers every StateService RPC."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import clerkrelay
from clerkrelay import RelayClient
from clerkrelay.v1 import state_service_pb2

PUBLIC = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TARGET",
    "EVENT_TYPES",
    "LEGACY_EVENT_TYPES",
    "RETRYABLE_CODES",
    "Backoff",
    "Checkpoint",
    "ConsumerMessage",
    "ConsumerStream",
    "Event",
    "EventStream",
    "FileCheckpoint",
    "InvalidArgumentError",
    "Listing",
    "MemoryCheckpoint",
    "NotFoundError",
    "OutOfRangeError",
    "Page",
    "PermissionDeniedError",
    "RelayClient",
    "RelayError",
    "Snapshot",
    "UnauthenticatedError",
    "UnavailableError",
    "case_name",
    "group_settings",
    "payload_case",
    "to_clerk_dict",
]


def test_all_is_pinned() -> None:
    assert clerkrelay.__all__ == PUBLIC
    for name in PUBLIC:
        assert hasattr(clerkrelay, name), name


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_state_rpc_has_a_helper() -> None:
    service = state_service_pb2.DESCRIPTOR.services_by_name["StateService"]
    helpers = {_snake(method.name) for method in service.methods}
    assert len(helpers) == 24
    for helper in helpers:
        assert callable(getattr(RelayClient, helper, None)), helper


def _public_members(cls: type) -> list[str]:
    return [
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
    ]


def test_everything_public_has_a_docstring() -> None:
    undocumented = []
    for name in PUBLIC:
        value = getattr(clerkrelay, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            if not inspect.getdoc(value):
                undocumented.append(name)
            if inspect.isclass(value):
                for cls in value.__mro__:
                    if cls.__module__.startswith("clerkrelay") and cls.__module__ != (
                        "clerkrelay.v1.event_pb2"
                    ):
                        undocumented += [
                            f"{name}.{member}"
                            for member in _public_members(cls)
                            if not inspect.getdoc(getattr(cls, member))
                        ]
    assert undocumented == []
    assert clerkrelay.RelayClient.get_user.__doc__ is not None
    assert "None when the" in clerkrelay.RelayClient.get_user.__doc__


def test_installs_on_its_own() -> None:
    root = Path(__file__).resolve().parents[2]
    own = tomllib.loads((root / "clients" / "python" / "pyproject.toml").read_text())
    top = tomllib.loads((root / "pyproject.toml").read_text())
    assert own["project"]["name"] == "clerkrelay"
    floors = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0]: d for d in top["project"]["dependencies"]}
    # The library needs grpcio and protobuf; its command line (`clerkrelay.cli`) the rest.
    library = ["grpcio", "protobuf"]
    cli = ["rich", "orjson", "uvloop", "httpx", "svix"]
    assert own["project"]["dependencies"] == [floors[name] for name in library + cli]
    assert own["project"]["scripts"] == top["project"]["scripts"]


def test_imports_nothing_of_the_server(tmp_path: Path) -> None:
    code = (
        "import sys, clerkrelay, clerkrelay.v1.state_service_pb2_grpc\n"
        "import clerkrelay.cli.main\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'gateway', 'service', 'relay'}))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the repository root
        env={"PYTHONPATH": str(root / "clients" / "python"), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == "[]\n"
