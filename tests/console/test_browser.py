"""The console in a real browser (Debian's headless Chromium): the live log, a detail, escaping.

Skipped only when chromium is absent and `CI` is unset; in CI its absence fails.
Each test saves a screenshot in its `tmp_path`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.console.browser import Browser, chromium_path
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET, RelayProcess, running, serve

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed; CI runs this test")
    profile = tmp_path / "profile"
    profile.mkdir()
    with Browser(profile) as opened:
        yield opened


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    process = serve(tmp_path)
    with running(process):
        yield process


def _post(relay: RelayProcess, webhook_id: str, **data: str) -> int:
    env, _ = envelope("user.created", f"user_{webhook_id}", 1_700_000_000_000, webhook_id, **data)
    body = orjson.dumps(env)
    headers = signed_headers(body, webhook_id=webhook_id, secrets=(TEST_SECRET,))
    response = httpx.post(relay.webhook_url, content=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    sequence: int = response.json()["sequence"]
    return sequence


def test_the_live_log_shows_a_new_webhook_without_a_reload(
    relay: RelayProcess, browser: Browser, tmp_path: Path
) -> None:
    _post(relay, "msg_before")
    browser.open(f"{relay.ops_url}/console/")
    assert browser.evaluate("document.querySelectorAll('#log-rows tr').length") == 1
    browser.evaluate("window.sameDocument = true")  # a reload would forget it

    sequence = _post(relay, "msg_live_1", first_name="Ada")
    selector = f'#log-rows tr[data-sequence="{sequence}"]'
    found = browser.wait_for(f"document.querySelector('{selector} td.svix')?.textContent")
    assert found == "msg_live_1"
    assert browser.evaluate(f"document.querySelector('{selector} td.type').textContent") == (
        "user.created"
    )
    assert browser.evaluate("document.querySelector('#log-rows tr').dataset.sequence") == str(
        sequence
    )  # newest on top
    assert browser.evaluate("window.sameDocument") is True
    shot = browser.screenshot(tmp_path / "console-live-log.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_hostile_contents_render_as_text_in_the_browser(
    relay: RelayProcess, browser: Browser, tmp_path: Path
) -> None:
    hostile = '<img src=x onerror="window.pwned = true"><script>window.pwned = true</script>'
    _post(relay, "msg_hostile", first_name=hostile)
    browser.open(f"{relay.ops_url}/console/events/msg_hostile")
    typed = browser.evaluate("document.getElementById('typed').textContent")
    assert orjson.loads(typed)["first_name"] == hostile
    raw = browser.evaluate("document.getElementById('raw').textContent")
    assert orjson.loads(raw)["data"]["first_name"] == hostile
    assert browser.evaluate("document.querySelectorAll('main img, main script').length") == 0
    assert browser.evaluate("window.pwned === undefined") is True
    browser.screenshot(tmp_path / "console-event.png")
