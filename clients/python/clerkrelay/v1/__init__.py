"""Generated protobuf and gRPC code for package clerkrelay.v1 (do not edit; run `make gen`)."""
