"""Every proto file names the same Go, Java and C# packages (README "Other languages")."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "protos/clerkrelay/v1").glob("*.proto"))


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_language_options(proto: Path) -> None:
    module = importlib.import_module(f"clerkrelay.v1.{proto.stem}_pb2")
    file = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    options = file.options
    camel = "".join(word.capitalize() for word in proto.stem.split("_"))
    assert options.go_package == (
        "github.com/clerk-relay/clerk-relay/clients/go/clerkrelay/v1;clerkrelayv1"
    )
    assert options.java_package == "com.clerkrelay.v1"
    assert options.java_multiple_files is True
    assert options.java_outer_classname == f"{camel}Proto"
    assert options.csharp_namespace == "ClerkRelay.V1"
