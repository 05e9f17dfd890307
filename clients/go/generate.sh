#!/bin/sh
# Generates the Go messages and gRPC clients of clerk-relay's contract into a
# GOPATH tree: OUT/src/github.com/clerk-relay/clerk-relay/clients/go/clerkrelay/v1,
# the import path the protos' go_package names.
#
#   clients/go/generate.sh OUT
#
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH: `make debian-packages`
# installs Debian's (with the Go toolchain and the protobuf and gRPC packages).
set -eu
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out/src"
protoc -I"$root/protos" \
    --go_out="$out/src" \
    --go-grpc_out="$out/src" \
    "$root"/protos/clerkrelay/v1/*.proto
