"""The operator's console: read-only HTML pages on the operations listener.

Served by the processes that hold the store (`serve` and `grpc`), which read
it directly, as their gRPC servicers do (`service.lookups`); a `gateway`
holds no store and has no console. See `console.app` for the pages and
`console.access` for who may see them.
"""
