"""The dashboard in a real browser: Debian's headless Chromium, driven by playwright.

Skipped when playwright or Chromium is missing, unless ``FRESHREC_REQUIRE_BROWSER=1`` (CI),
where that fails instead. ``FRESHREC_DASHBOARD_SCREENSHOT=PATH`` also runs a live service
(learner included) under a minute and a half of traffic and writes a screenshot of its page
to ``PATH``: the docs' picture is made so::

    FRESHREC_DASHBOARD_SCREENSHOT=docs/img/dashboard.png \\
        python -m pytest tests/serving/test_dashboard_browser.py -k screenshot
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from freshrec.data.synthetic import synthetic_stream
from freshrec.serving.app import create_app
from freshrec.serving.embedded import EmbeddedService
from freshrec.serving.history import History
from freshrec.serving.run import serve_in_thread
from freshrec.serving.store import ModelStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SCREENSHOT = os.environ.get("FRESHREC_DASHBOARD_SCREENSHOT")


def _missing(reason: str) -> NoReturn:
    if os.environ.get("FRESHREC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and FRESHREC_REQUIRE_BROWSER=1 asks for the browser test")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium")
    if chromium is None:
        _missing("no chromium on the PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        # playwright's own browsers cannot be downloaded here: the system's Chromium it is
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1280, "height": 800})
    yield opened
    opened.close()


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:
        response.read()


def _until(done: Callable[[], bool], work: Callable[[], None], timeout_s: float) -> None:
    """Do ``work`` over and over until ``done`` (or fail after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        work()


def test_the_dashboard_in_a_browser(page: Page, store: ModelStore) -> None:
    from playwright.sync_api import expect

    app = create_app(store, poll_s=0.05)
    history: History = app.state.context.metrics.history
    with serve_in_thread(app) as url:
        # a little traffic, until the charts have two samples to draw lines between
        ask = f"{url}/v1/users/u2/recommendations"
        _until(lambda: len(history.samples()) >= 2, lambda: _get(ask), timeout_s=10)
        page.clock.install()  # the page's 5 s refresh runs when the test says
        page.goto(f"{url}/dashboard")
        expect(page.locator("#version")).to_have_text("v000001")
        charts = page.locator("#charts svg")
        expect(charts).to_have_count(4)
        for i in range(4):
            expect(charts.nth(i)).to_be_visible()
        assert page.locator("#charts polyline").count() >= 4
        page.fill("#user", "u1")
        page.fill("#k", "5")
        page.click("button[type=submit]")
        expect(page.locator("#answer tbody tr")).to_have_count(5)
        expected = [str(scored.item) for scored in store.recommend("u1", 5).items]
        assert page.locator("#answer td.mono").all_inner_texts() == expected
        # the refresh swaps the live parts and leaves the user's answer as it was
        page.evaluate("document.getElementById('charts').dataset.old = 'yes'")
        page.clock.run_for(5_000)
        expect(page.locator("#charts:not([data-old])")).to_have_count(1)
        expect(page.locator("#answer tbody tr")).to_have_count(5)
        expect(page.locator("#refresh-error")).to_be_hidden()


# -- the docs' screenshot (opt-in) ----------------------------------------------------------
def _post_stream(url: str, stop: threading.Event) -> None:
    """Post a synthetic stream in batches, at a rate that rises and falls."""
    events = synthetic_stream(n_users=300, n_items=200, n_events=60_000, seed=0).events
    started, sent = time.monotonic(), 0
    while not stop.is_set() and sent < len(events):
        elapsed = time.monotonic() - started
        size = int(40 + 35 * math.sin(elapsed / 9))
        batch = [
            {"event_id": i, "user": f"u{events.user[i]}", "item": f"i{events.item[i]}"}
            for i in range(sent, min(sent + size, len(events)))
        ]
        request = urllib.request.Request(
            f"{url}/v1/events",
            data=json.dumps({"events": batch}).encode(),
            headers={"content-type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).read()
        sent += len(batch)
        time.sleep(0.1)


def _ask(url: str, stop: threading.Event, pause_s: float) -> None:
    """Ask for recommendations, one request after another with a pause between (503s
    until the first version serves)."""
    user = 0
    while not stop.is_set():
        try:
            _get(f"{url}/v1/users/u{user % 300}/recommendations?k=10")
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise
        user += 7
        time.sleep(pause_s)


@pytest.mark.skipif(SCREENSHOT is None, reason="FRESHREC_DASHBOARD_SCREENSHOT=PATH is not set")
def test_screenshot_of_a_live_service(page: Page, tmp_path: Path) -> None:
    assert SCREENSHOT is not None
    with EmbeddedService(
        tmp_path, "bpr", candidate_every=6_000, guard_events=1_000, micro_batch=200
    ) as service:
        with serve_in_thread(service.app()) as url:
            stop = threading.Event()
            workers = [threading.Thread(target=_post_stream, args=(url, stop))] + [
                threading.Thread(target=_ask, args=(url, stop, pause)) for pause in (0.0, 0.01)
            ]
            for worker in workers:
                worker.start()
            time.sleep(90)
            seen = {u: len(service.store.seen_items(f"u{u}")) for u in range(300)}
            typical = sorted(seen, key=seen.__getitem__)[len(seen) // 2]
            page.goto(f"{url}/dashboard?user=u{typical}&k=8")
            page.screenshot(path=SCREENSHOT, full_page=True)
            stop.set()
            for worker in workers:
                worker.join()
