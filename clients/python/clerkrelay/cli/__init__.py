"""`clerk-relay`, the command line; `clerkrelay.cli.main.main` runs it.

The client's commands (`tail`, `get`, `list`, `trigger`) live here; with the
server installed, `serve`, `gateway` and `grpc` join them (the `relay` package).
"""
