"""The console in a real browser (Debian's headless Chromium under Selenium): live, and escaping.

Skipped only when chromium or chromedriver is absent and `CI` is unset; in CI
their absence fails. Each test saves a screenshot in its `tmp_path`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from clerkrelay.v1.event_service_pb2 import SubscribeRequest
from clerkrelay.v1.event_service_pb2_grpc import EventServiceStub
from tests.console.browser import chromium, need_chromium
from tests.gateway.signing import signed_headers
from tests.history import envelope
from tests.processes import TEST_SECRET, RelayProcess, running, serve

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    need_chromium()
    profile = tmp_path / "profile"
    profile.mkdir()
    with chromium(profile) as driver:
        yield driver


def _shot(browser: Chrome, path: Path) -> None:
    assert browser.save_screenshot(str(path)) is True
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _sequences(browser: Chrome, selector: str) -> list[str | None]:
    return [
        row.get_attribute("data-sequence")
        for row in browser.find_elements(By.CSS_SELECTOR, selector)
    ]


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
    relay: RelayProcess, browser: Chrome, tmp_path: Path
) -> None:
    _post(relay, "msg_before")
    browser.get(f"{relay.ops_url}/console/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#log-rows tr")) == 1
    browser.execute_script("window.sameDocument = true")  # a reload would forget it

    sequence = _post(relay, "msg_live_1", first_name="Ada")
    selector = f'#log-rows tr[data-sequence="{sequence}"]'
    row = WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))[0]
    assert row.find_element(By.CSS_SELECTOR, "td.svix").text == "msg_live_1"
    assert row.find_element(By.CSS_SELECTOR, "td.type").text == "user.created"
    assert _sequences(browser, "#log-rows tr")[0] == str(sequence)  # newest on top
    assert browser.execute_script("return window.sameDocument") is True
    _shot(browser, tmp_path / "console-live-log.png")


def test_hostile_contents_render_as_text_in_the_browser(
    relay: RelayProcess, browser: Chrome, tmp_path: Path
) -> None:
    hostile = '<img src=x onerror="window.pwned = true"><script>window.pwned = true</script>'
    _post(relay, "msg_hostile", first_name=hostile)
    browser.get(f"{relay.ops_url}/console/events/msg_hostile")
    typed = browser.execute_script("return document.getElementById('typed').textContent")
    assert orjson.loads(typed)["first_name"] == hostile
    raw = browser.execute_script("return document.getElementById('raw').textContent")
    assert orjson.loads(raw)["data"]["first_name"] == hostile
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert browser.execute_script("return window.pwned === undefined") is True
    _shot(browser, tmp_path / "console-event.png")


def test_filters_detail_history_and_a_stopped_subscriber(tmp_path: Path, browser: Chrome) -> None:
    relay = serve(tmp_path, None, "--live-buffer", "2")
    with running(relay):
        _post(relay, "msg_u1", first_name="Ada")  # 1
        env, _ = envelope("session.created", "sess_b", 1_700_000_000_000, "msg_s1")
        env["data"]["user_id"] = "user_msg_u1"
        body = orjson.dumps(env)
        headers = signed_headers(body, webhook_id="msg_s1", secrets=(TEST_SECRET,))
        assert httpx.post(relay.webhook_url, content=body, headers=headers).status_code == 200
        _post(relay, "msg_u2")  # 3

        # Filter by type, then find one event by svix-id.
        browser.get(f"{relay.ops_url}/console/?type=session.*")
        assert _sequences(browser, "#log-rows tr") == ["2"]
        browser.get(f"{relay.ops_url}/console/?svix_id=msg_u2")
        assert _sequences(browser, "#log-rows tr") == ["3"]
        _shot(browser, tmp_path / "console-filtered.png")

        # Its detail: the raw JSON, byte for byte.
        browser.get(f"{relay.ops_url}/console/events/msg_s1")
        raw = browser.execute_script("return document.getElementById('raw').textContent")
        assert raw == body.decode()
        _shot(browser, tmp_path / "console-detail.png")

        # The user's entity page: its history in order (its session included).
        browser.get(f"{relay.ops_url}/console/entities/user/user_msg_u1")
        assert _sequences(browser, "#history tbody tr") == ["1", "2"]
        _shot(browser, tmp_path / "console-entity.png")

        # A subscriber that stops reading: its lag grows on the subscribers page.
        # (No BDP probing: the connection's window stays at 64 KiB, so the
        # server stops sending, and moving its position, once that is full.)
        options = [("grpc.http2.bdp_probe", 0)]
        with grpc.insecure_channel(relay.grpc_target, options=options) as channel:
            stream = EventServiceStub(channel).Subscribe(SubscribeRequest(after_sequence=0))
            for response in stream:
                if response.WhichOneof("response") == "caught_up":
                    break  # and read nothing more
            lags = []
            for batch in range(2):
                for n in range(150):
                    _post(relay, f"msg_flood_{batch}_{n}", first_name="x" * 2000)
                browser.get(f"{relay.ops_url}/console/subscribers")
                lags.append(int(browser.find_element(By.CSS_SELECTOR, "td.lag").text))
            _shot(browser, tmp_path / "console-subscribers.png")
            stream.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs lacks it
        assert 0 < lags[0] < lags[1], lags


def test_the_ingest_chart_counts_a_webhook_and_its_duplicate(
    relay: RelayProcess, browser: Chrome, tmp_path: Path
) -> None:
    first = _post(relay, "msg_twice")
    assert _post(relay, "msg_twice") == first  # the second is a duplicate
    browser.get(f"{relay.ops_url}/console/ingest")
    drawn: dict[str, int] = {}
    for segment in browser.find_elements(By.CSS_SELECTOR, "#ingest-chart rect.segment"):
        assert segment.size["height"] > 0
        outcome = segment.get_attribute("data-outcome") or ""
        drawn[outcome] = drawn.get(outcome, 0) + int(segment.get_attribute("data-count") or 0)
    assert drawn == {"accepted": 1, "duplicate": 1}
    totals = {
        row.get_attribute("data-outcome"): row.find_element(By.CSS_SELECTOR, "td.count").text
        for row in browser.find_elements(By.CSS_SELECTOR, "#ingest-totals tbody tr")
    }
    assert totals == {"accepted": "1", "duplicate": "1"}
    _shot(browser, tmp_path / "console-ingest.png")
