"""Subscribers for the fan-out, latency, memory and replay benchmarks, in their own process.

Run by `bench.procs.Worker` as `python -m bench.subscribers CONFIG`, pinned to
the load CPU. Every stream has its own channel and TCP connection (as separate
services would), and calls `EventService.Subscribe` generically with
`response_deserializer=None`: messages arrive as raw bytes.

- `count` mode does not parse: it walks the protobuf wire format of each
  `SubscribeResponse` just far enough to count the events of its batch
  (`count_events`), about a microsecond per message.
- `ids` mode parses each message (upb) and records, for every event, its
  webhook id and when it arrived (monotonic ns), for end-to-end latency.

Commands: `open` (start N streams; answers `opened` once each has received
its first message, or its initial metadata with `ready_on: metadata`),
`consume` (join N members to a consumer group, new events only, each acking
every delivery at once and recording its receipt, as `ids` mode does),
`mark` (counters now), `collect` (receipts so far, the streams' and the
members'), `close`, and `replay` (one stream from sequence 0, timed until
`caught_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc
import uvloop

from bench import jsonlines
from bench.cpus import LOAD_CPU, pin_self
from clerkrelay import RelayClient
from clerkrelay.v1.event_service_pb2 import SubscribeRequest, SubscribeResponse

__all__ = ["SUBSCRIBE_METHOD", "count_events", "is_caught_up", "is_fell_behind"]

SUBSCRIBE_METHOD = "/clerkrelay.v1.EventService/Subscribe"

# First byte of a SubscribeResponse: the tag of its oneof field (length-delimited).
_EVENTS_TAG = 0x0A  # field 1, events (EventBatch)
_CAUGHT_UP_TAG = 0x1A  # field 3
_FELL_BEHIND_TAG = 0x22  # field 4

_CHANNEL_OPTIONS = [
    # Without this, channels to one target share one connection.
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 64 << 20),
]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def count_events(message: bytes) -> int:
    """How many events a serialized `SubscribeResponse` carries (0 for a control message)."""
    if not message or message[0] != _EVENTS_TAG:
        return 0
    length, pos = _varint(message, 1)
    end = pos + length
    count = 0
    while pos < end:
        size, pos = _varint(message, pos + 1)  # skip the tag of EventBatch.events
        pos += size
        count += 1
    return count


def is_caught_up(message: bytes) -> bool:
    """The message is `caught_up`."""
    return bool(message) and message[0] == _CAUGHT_UP_TAG


def is_fell_behind(message: bytes) -> bool:
    """The message is `fell_behind`."""
    return bool(message) and message[0] == _FELL_BEHIND_TAG


class _Subscribers:
    """The streams of this process and their counters."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = 0
        self._wanted = 0
        self._all_ready = asyncio.Event()
        self.events = 0
        self.messages = 0
        self.fell_behind = 0
        self.ended = 0
        self.receipts: list[tuple[str, int]] = []
        self.member_receipts: list[tuple[str, int]] = []

    def _channel(self) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
        self._channels.append(channel)
        return channel

    async def open(self, command: dict[str, Any]) -> None:
        """Starts `streams` streams (`mode`: count or ids; `start`: live or zero)."""
        streams = int(command["streams"])
        mode = str(command.get("mode", "count"))
        on_metadata = command.get("ready_on") == "metadata"
        request = (
            SubscribeRequest(after_sequence=0)
            if command.get("start") == "zero"
            else SubscribeRequest()
        ).SerializeToString()
        started = time.monotonic()
        self._wanted += streams
        self._all_ready.clear()
        for _ in range(streams):
            self._tasks.append(
                asyncio.create_task(self._stream(self._channel(), request, mode, on_metadata))
            )
        async with asyncio.timeout(float(command.get("timeout_s", 60))):
            await self._all_ready.wait()
        jsonlines.emit("opened", streams=len(self._tasks), seconds=time.monotonic() - started)

    def _one_ready(self) -> None:
        self._ready += 1
        if self._ready >= self._wanted:
            self._all_ready.set()

    async def _stream(
        self, channel: grpc.aio.Channel, request: bytes, mode: str, on_metadata: bool
    ) -> None:
        call = channel.unary_stream(
            SUBSCRIBE_METHOD, request_serializer=None, response_deserializer=None
        )(request)
        first = True
        parse = mode == "ids"
        try:
            if on_metadata:
                await call.initial_metadata()
                first = False
                self._one_ready()
            async for message in call:
                if first:
                    first = False
                    self._one_ready()
                self.messages += 1
                if parse:
                    now = time.monotonic_ns()
                    response = SubscribeResponse.FromString(message)
                    if response.WhichOneof("response") == "events":
                        batch = response.events.events
                        self.receipts.extend((event.id, now) for event in batch)
                        self.events += len(batch)
                elif message[0] == _EVENTS_TAG:
                    self.events += count_events(message)
                elif message[0] == _FELL_BEHIND_TAG:
                    self.fell_behind += 1
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.ended += 1
        else:
            self.ended += 1

    async def consume(self, command: dict[str, Any]) -> None:
        """Joins `members` members to group `group` (new events only); answers `consuming`."""
        members, group = int(command["members"]), str(command["group"])

        async def member() -> None:
            async with RelayClient(self._target) as client, client.consume(group) as stream:
                async for message in stream:
                    self.member_receipts.append((message.event.id, time.monotonic_ns()))
                    await message.ack()

        async with RelayClient(self._target) as admin:
            await admin.create_consumer_group(group)
            for _ in range(members):
                self._tasks.append(asyncio.create_task(member()))
            for _ in range(1200):  # 60 s at most, until the server counts every member
                if len((await admin.consumer_group(group)).members) >= members:
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError(f"the {members} members of {group} did not all join")
        jsonlines.emit("consuming", members=members)

    async def mark(self, command: dict[str, Any]) -> None:
        """Reports the counters now."""
        jsonlines.emit(
            "mark",
            t=time.monotonic(),
            events=self.events,
            messages=self.messages,
            fell_behind=self.fell_behind,
            ended=self.ended,
            cpu=time.process_time(),
        )

    async def collect(self, command: dict[str, Any]) -> None:
        """Reports (and forgets) the receipts recorded so far."""
        receipts, self.receipts = self.receipts, []
        members, self.member_receipts = self.member_receipts, []
        jsonlines.emit("receipts", receipts=receipts, member_receipts=members)

    async def close(self, command: dict[str, Any] | None = None) -> None:
        """Cancels every stream and closes every channel."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels:
            await channel.close(None)
        self._tasks.clear()
        self._channels.clear()
        self._ready = self._wanted = 0
        if command is not None:
            jsonlines.emit("closed")

    async def replay(self, command: dict[str, Any]) -> None:
        """One stream from sequence 0, timed until `caught_up`; reports events and seconds."""
        request = SubscribeRequest(after_sequence=0).SerializeToString()
        async with grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS) as channel:
            await channel.channel_ready()
            call = channel.unary_stream(
                SUBSCRIBE_METHOD, request_serializer=None, response_deserializer=None
            )(request)
            events = messages = 0
            cpu = time.process_time()
            started = time.monotonic()
            first_s = 0.0
            async for message in call:
                messages += 1
                if message[0] == _EVENTS_TAG:
                    if not events:
                        first_s = time.monotonic() - started
                    events += count_events(message)
                elif is_caught_up(message):
                    break
            seconds = time.monotonic() - started
            cpu = time.process_time() - cpu
            call.cancel()
        jsonlines.emit(
            "replayed",
            events=events,
            messages=messages,
            seconds=seconds,
            first_s=first_s,
            cpu=cpu / seconds if seconds > 0 else 0.0,
        )


async def _main() -> None:
    config = jsonlines.config()
    pin_self(int(config.get("cpu", LOAD_CPU)))
    subscribers = _Subscribers(str(config["target"]))
    jsonlines.emit("ready")
    try:
        await jsonlines.serve_commands(
            {
                "open": subscribers.open,
                "mark": subscribers.mark,
                "collect": subscribers.collect,
                "close": subscribers.close,
                "consume": subscribers.consume,
                "replay": subscribers.replay,
            }
        )
    finally:
        await subscribers.close()


if __name__ == "__main__":
    uvloop.run(_main())
