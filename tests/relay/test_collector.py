"""The relay's servers tune the garbage collector once, before they serve."""

from __future__ import annotations

import json
import subprocess
import sys

from relay.collector import YOUNG_THRESHOLD
from tests.processes import SOURCE_PATH

_PROBE = """
import gc, json
from relay import collector
before = (gc.get_threshold(), gc.get_freeze_count())
collector.tune()
print(json.dumps([before, (gc.get_threshold(), gc.get_freeze_count())]))
"""


def test_tune_freezes_start_up_and_raises_only_the_young_threshold() -> None:
    # In a process of its own: freezing this one would change every later test's collector.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={"PYTHONPATH": SOURCE_PATH},
        capture_output=True,
        text=True,
        check=True,
    )
    (before_threshold, before_frozen), (after_threshold, after_frozen) = json.loads(done.stdout)
    assert before_frozen == 0
    assert after_threshold == [YOUNG_THRESHOLD, *before_threshold[1:]]
    assert before_threshold[0] < YOUNG_THRESHOLD  # CPython 3.11's default is 700
    assert after_frozen > 1_000  # the modules imported so far, at least
