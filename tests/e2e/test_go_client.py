"""A Go client generated from the protos with Debian's toolchain, against a live relay.

`clients/go/generate.sh` writes the Go messages and gRPC clients into a GOPATH
tree; `clients/go/examples/subscriber` is built against it and Debian's
protobuf and gRPC packages (GOPATH mode: no module proxy). `make test` installs
the toolchain (`make debian-packages`); outside CI a machine without it skips, saying so.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clerkrelay.cli.samples import sample
from tests.e2e.typescript import post_webhook
from tests.processes import RelayProcess, running, serve

ROOT = Path(__file__).resolve().parents[2]
GO_DIR = ROOT / "clients" / "go"
TOOLS = ("go", "protoc", "protoc-gen-go", "protoc-gen-go-grpc")
DEBIAN_GOPATH = "/usr/share/gocode"
STEP_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def subscriber(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example subscriber, built from freshly generated code."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(
                f"the Go toolchain is missing ({', '.join(missing)}): run `make debian-packages`"
            )
        pytest.skip(
            f"no Go toolchain here ({', '.join(missing)}); `make debian-packages` installs it"
        )
    gopath = tmp_path_factory.mktemp("gopath")
    subprocess.run([GO_DIR / "generate.sh", gopath], check=True, timeout=STEP_TIMEOUT_S)
    binary = gopath / "bin" / "subscriber"
    subprocess.run(
        ["go", "build", "-o", binary, "./examples/subscriber"],
        cwd=GO_DIR,
        env=go_env(gopath),
        check=True,
        timeout=300,
    )
    yield binary


def go_env(gopath: Path) -> dict[str, str]:
    """GOPATH mode over the generated tree and Debian's Go packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    env.update(GO111MODULE="off", GOPATH=f"{gopath}:{DEBIAN_GOPATH}", GOFLAGS="")
    return env


def run(binary: Path, relay: RelayProcess, *args: str, token: str = "") -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    if token:
        env["CLERK_RELAY_TOKEN"] = token
    return subprocess.run(
        [binary, "-target", relay.grpc_target, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )


def test_generated_code_is_gofmt_clean_and_vets(subscriber: Path) -> None:
    gopath = subscriber.parents[1]
    generated = gopath / "src/github.com/clerk-relay/clerk-relay/clients/go/clerkrelay/v1"
    files = sorted(p.name for p in generated.iterdir())
    assert "event.pb.go" in files and "event_service_grpc.pb.go" in files
    unformatted = subprocess.run(
        ["gofmt", "-l", generated, GO_DIR], capture_output=True, text=True, check=True
    )
    assert unformatted.stdout == ""
    vet = subprocess.run(
        ["go", "vet", "./examples/subscriber"],
        cwd=GO_DIR,
        env=go_env(gopath),
        capture_output=True,
        text=True,
        check=False,
    )
    assert vet.returncode == 0, vet.stderr


async def test_replay_live_and_state(subscriber: Path, tmp_path: Path) -> None:
    relay = serve(tmp_path)
    relay.env["CLERK_RELAY_TOKENS"] = "go-client-token"
    user = sample("user.created")["data"]
    with running(relay):
        assert await post_webhook(relay, "user.created", "msg_go_1") == {"sequence": 1}
        assert await post_webhook(relay, "session.created", "msg_go_2") == {"sequence": 2}
        replayed = run(subscriber, relay, "-after", "0", "-count", "2", token="go-client-token")
        assert replayed.returncode == 0, replayed.stderr
        lines = [json.loads(line) for line in replayed.stdout.splitlines()]
        assert [(x["sequence"], x["id"], x["type"], x["payload_case"]) for x in lines] == [
            (1, "msg_go_1", "user.created", "user_created"),
            (2, "msg_go_2", "session.created", "session_created"),
        ]
        assert lines[0]["data_id"] == user["id"]
        assert lines[1]["data_id"] == sample("session.created")["data"]["id"]
        assert lines[0]["origin"] == "EVENT_ORIGIN_UNSPECIFIED"  # a webhook
        assert lines[0]["raw_body_bytes"] > 0

        live = await asyncio.create_subprocess_exec(
            subscriber,
            "-target",
            relay.grpc_target,
            "-types",
            "user.*",
            "-count",
            "1",
            env={**go_env(tmp_path), "CLERK_RELAY_TOKEN": "go-client-token"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert live.stderr is not None
        first = await asyncio.wait_for(live.stderr.readline(), STEP_TIMEOUT_S)
        assert first.decode() == "subscriber: caught up at sequence 2\n"
        assert await post_webhook(relay, "session.created", "msg_go_3") == {"sequence": 3}
        assert await post_webhook(relay, "user.updated", "msg_go_4") == {"sequence": 4}
        stdout, _ = await asyncio.wait_for(live.communicate(), STEP_TIMEOUT_S)
        assert live.returncode == 0
        [only] = [json.loads(line) for line in stdout.decode().splitlines()]
        assert (only["sequence"], only["type"]) == (4, "user.updated")

        state = run(subscriber, relay, "-get-user", user["id"], token="go-client-token")
        assert state.returncode == 0, state.stderr
        updated = sample("user.updated")["data"]
        assert json.loads(state.stdout) == {
            "id": user["id"],
            "first_name": updated["first_name"],
            "deleted": False,
            "event_sequence": 4,
            "snapshot_sequence": 4,
        }

        refused = run(subscriber, relay, "-get-user", user["id"])
        assert refused.returncode == 1
        assert refused.stderr.startswith("subscriber: rpc error: code = Unauthenticated desc = ")
