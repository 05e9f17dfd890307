"""The contract's Java options at work: protoc's Java classes decode the relay's events.

`clients/java/examples/PrintEvents.java` is compiled against protoc's Java
output for `protos/` and Debian's protobuf runtime (`make debian-packages`),
then reads events a relay stored and streamed. Debian has no gRPC for Java,
so this covers the messages; a Java service adds grpc-java's stubs itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clerkrelay import RelayClient
from tests.e2e.typescript import post_webhook
from tests.processes import running, serve

ROOT = Path(__file__).resolve().parents[2]
PROTOBUF_JAR = Path("/usr/share/java/protobuf.jar")


def _require_java() -> None:
    missing = [t for t in ("protoc", "javac", "java") if shutil.which(t) is None]
    if not PROTOBUF_JAR.exists():
        missing.append(str(PROTOBUF_JAR))
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"missing for the Java test: {', '.join(missing)}: run `make debian-packages`")
    pytest.skip(f"no Java protobuf toolchain here ({', '.join(missing)})")


def _compile(out: Path) -> Path:
    sources = out / "src"
    classes = out / "classes"
    sources.mkdir()
    classes.mkdir()
    protos = sorted((ROOT / "protos/clerkrelay/v1").glob("*.proto"))
    subprocess.run(["protoc", f"-I{ROOT / 'protos'}", f"--java_out={sources}", *protos], check=True)
    generated = sorted(sources.rglob("*.java"))
    assert (sources / "com/clerkrelay/v1/Event.java") in generated  # java_multiple_files
    subprocess.run(
        [
            "javac",
            "-nowarn",
            "-d",
            classes,
            "-cp",
            PROTOBUF_JAR,
            *generated,
            ROOT / "clients/java/examples/PrintEvents.java",
        ],
        check=True,
        timeout=300,
    )
    return classes


async def test_java_reads_the_events_a_relay_streams(tmp_path: Path) -> None:
    _require_java()
    classes = _compile(tmp_path)
    relay = serve(tmp_path)
    with running(relay):
        await post_webhook(relay, "user.created", "msg_java_1")
        await post_webhook(relay, "organizationMembership.created", "msg_java_2")
        await post_webhook(relay, "session.ended", "msg_java_3")
        async with (
            RelayClient(relay.grpc_target) as client,
            client.subscribe(after_sequence=0, until_caught_up=True) as stream,
        ):
            events = [e async for e in stream]
    printed = _print_events(classes, b"".join(_delimited(e.SerializeToString()) for e in events))
    expected = [
        "\t".join(
            [
                str(e.sequence),
                e.type,
                e.id,
                (e.WhichOneof("payload") or "payload_not_set").upper(),
                getattr(e, e.WhichOneof("payload") or "").id,
            ]
        )
        for e in events
    ]
    assert printed == expected
    assert [line.split("\t")[3] for line in expected] == [
        "USER_CREATED",
        "ORGANIZATION_MEMBERSHIP_CREATED",
        "SESSION_ENDED",
    ]


def _print_events(classes: Path, delimited: bytes) -> list[str]:
    """What `PrintEvents` prints for these length-delimited events."""
    printed = subprocess.run(
        ["java", "-cp", f"{classes}:{PROTOBUF_JAR}", "PrintEvents"],
        input=delimited,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return printed.stdout.decode().splitlines()


def _delimited(data: bytes) -> bytes:
    size, prefix = len(data), bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        prefix.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(prefix) + data
