"""The server's processes: its commands (`serve`, `gateway`, `grpc`) and their wiring.

Commands → server → store: `relay.flags` declares the commands' flags (light
to import, so `clerk-relay --help` stays fast), `relay.commands` turns flags
and environment into settings and runs a command, and `relay.runner` builds
the processes (the HTTP gateway, the gRPC service and the store) and owns
their start-up and shutdown order. It may import `gateway` and `service`;
neither imports it. The `clerk-relay` command line itself lives in the
client package (`clerkrelay.cli`), which adds these commands when this package
is installed.
"""
