"""`FileCheckpoint`, `MemoryCheckpoint` and `Backoff`: positions and retry delays."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from clerkrelay import Backoff, Checkpoint, FileCheckpoint, MemoryCheckpoint


def test_file_checkpoint_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "position"
    checkpoint = FileCheckpoint(path)
    assert checkpoint.load() is None
    checkpoint.save(42)
    assert path.read_text() == "42\n"
    assert FileCheckpoint(path).load() == 42
    checkpoint.save(43)
    assert FileCheckpoint(str(path), durable=False).load() == 43
    assert sorted(os.listdir(path.parent)) == ["position"]  # no temporary left behind


def test_file_checkpoint_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "position"
    checkpoint = FileCheckpoint(path)
    checkpoint.save(7)
    before = path.stat().st_ino
    checkpoint.save(8)
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert path.read_text() == "8\n"


def test_failed_save_leaves_no_temporary(tmp_path: Path) -> None:
    checkpoint = FileCheckpoint(tmp_path / "position")
    with pytest.raises(ValueError, match="never negative"):
        checkpoint.save(-1)
    (tmp_path / "position" / "occupied").mkdir(parents=True)  # a directory in the way
    with pytest.raises(IsADirectoryError):
        checkpoint.save(6)
    assert sorted(os.listdir(tmp_path)) == ["position"]


def test_corrupt_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "position"
    path.write_text("twelve\n")
    with pytest.raises(ValueError, match="does not hold a sequence number"):
        FileCheckpoint(path).load()


def test_memory_checkpoint() -> None:
    checkpoint = MemoryCheckpoint()
    assert checkpoint.load() is None
    checkpoint.save(3)
    assert (checkpoint.load(), checkpoint.saves) == (3, 1)
    assert MemoryCheckpoint(9).load() == 9


def test_both_implement_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryCheckpoint(), Checkpoint)
    assert isinstance(FileCheckpoint(tmp_path / "p"), Checkpoint)


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(initial_delay_s=0.1, max_delay_s=2.0, multiplier=2.0)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (4, 1.6), (5, 2.0), (500, 2.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempt
        assert len(set(delays)) > 150  # jittered, not a fixed value


def test_backoff_gives_up_only_when_told() -> None:
    assert not Backoff().exhausted(10_000)
    assert not Backoff(max_attempts=3).exhausted(2)
    assert Backoff(max_attempts=3).exhausted(3)


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="0 < initial_delay_s <= max_delay_s"):
        Backoff(initial_delay_s=0)
    with pytest.raises(ValueError, match="0 < initial_delay_s <= max_delay_s"):
        Backoff(initial_delay_s=2, max_delay_s=1)
    with pytest.raises(ValueError, match="multiplier must be at least 1"):
        Backoff(multiplier=0.5)
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        Backoff(max_attempts=0)
