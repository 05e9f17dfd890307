"""A TCP proxy on 127.0.0.1 that can silently drop its open connections (a half-open link).

`blackhole()` makes every connection open at that moment swallow whatever
either side sends, without closing anything: neither end gets a FIN or an RST,
as when a NAT or a load balancer forgets a flow. Connections made afterwards
are forwarded normally.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Proxy:
    """Forwards `127.0.0.1:<port>` to `target_host:target_port`.

    Attributes:
        port: Where the proxy listens (after `start`); a free port unless given.
    """

    def __init__(self, target_port: int, *, port: int = 0, target_host: str = "127.0.0.1") -> None:
        self._target_host = target_host
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._links: list[asyncio.Event] = []  # set: that connection is blackholed
        self._handlers: set[asyncio.Task[None]] = set()  # one per connection
        self._pumps: set[asyncio.Task[None]] = set()  # two per connection
        self.port = port

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def blackhole(self) -> None:
        """Every connection open now stops forwarding, silently and for good."""
        for dropped in self._links:
            dropped.set()

    async def close(self) -> None:
        """Stops listening and ends every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for pump in self._pumps:
            pump.cancel()  # its handler then closes both ends and returns
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        upstream_writer: asyncio.StreamWriter | None = None
        pumps: list[asyncio.Task[None]] = []
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self._target_host, self._target_port
            )
            dropped = asyncio.Event()
            self._links.append(dropped)
            pumps = [
                asyncio.create_task(self._pump(reader, upstream_writer, dropped)),
                asyncio.create_task(self._pump(upstream_reader, writer, dropped)),
            ]
            self._pumps.update(pumps)
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for end in (writer, upstream_writer):
                if end is not None:
                    end.close()
                    with contextlib.suppress(OSError):
                        await end.wait_closed()
            self._pumps.difference_update(pumps)
            self._handlers.discard(handler)

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dropped: asyncio.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if not dropped.is_set():
                    writer.write(data)
                    await writer.drain()


@contextlib.asynccontextmanager
async def proxy_to(port: int) -> AsyncIterator[Proxy]:
    """A started `Proxy` to `port`, closed afterwards."""
    proxy = await Proxy(port).start()
    try:
        yield proxy
    finally:
        await proxy.close()
