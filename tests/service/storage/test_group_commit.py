"""`GroupCommit`: what `append_many`'s callers get back, batch by batch.

The commit function here answers each queued event from the event's own id,
as a store's would from its transaction: a result, or an error for an id
marked `fail`. `GroupCommit` takes it as its one collaborator.
"""

from __future__ import annotations

import asyncio

import pytest

from clerkrelay.v1.event_pb2 import Event
from service.storage import AppendResult, StoreUnavailable
from service.storage.group_commit import GroupCommit, Waiting
from tests.history import event

_FAILED = StoreUnavailable("could not store the event")


class _Committer:
    """Answers every event of each batch; records the batches' sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.release = asyncio.Event()
        self.release.set()

    async def commit(self, batch: list[Waiting]) -> None:
        await self.release.wait()
        self.batches.append(len(batch))
        for pending, answer in batch:
            if pending.event.id.startswith("fail"):
                answer.set_exception(_FAILED)
            else:
                answer.set_result(AppendResult(int(pending.event.id.split("_")[1]), False, False))


def _events(*ids: str) -> list[Event]:
    return [event("user.created", f"user_{i}", webhook_id=i) for i in ids]


async def test_append_many_answers_in_order_across_batches_with_errors_as_values() -> None:
    committer = _Committer()
    commit = GroupCommit(committer.commit, max_batch=2, name="test-commit")
    results = await commit.append_many(_events("ok_1", "fail_2", "ok_3", "ok_4", "fail_5"))
    assert results == [
        AppendResult(1, False, False),
        _FAILED,
        AppendResult(3, False, False),
        AppendResult(4, False, False),
        _FAILED,
    ]
    assert committer.batches == [2, 2, 1]
    assert await commit.append_many([]) == []
    await commit.close()


async def test_a_cancelled_caller_leaves_its_events_committed_and_the_queue_going() -> None:
    committer = _Committer()
    committer.release.clear()
    commit = GroupCommit(committer.commit, max_batch=10, name="test-commit")
    waiting = asyncio.create_task(commit.append_many(_events("ok_1", "ok_2")))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    committer.release.set()  # the batch is answered after its caller left
    assert await commit.append(_events("ok_3")[0]) == AppendResult(3, False, False)
    assert committer.batches == [2, 1]
    await commit.close()


async def test_an_event_of_append_many_is_answered_once() -> None:
    answered: list[BaseException] = []

    async def twice(batch: list[Waiting]) -> None:
        for _, answer in batch:
            answer.set_result(AppendResult(1, False, False))
            assert answer.done()
            try:
                answer.set_result(AppendResult(2, False, False))
            except asyncio.InvalidStateError as error:
                answered.append(error)

    commit = GroupCommit(twice, max_batch=10, name="test-commit")
    assert await commit.append_many(_events("ok_1")) == [AppendResult(1, False, False)]
    assert len(answered) == 1
    await commit.close()
