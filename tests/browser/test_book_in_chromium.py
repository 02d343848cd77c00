"""The built smoke book, opened in headless Chromium with no network: charts drawn, no JavaScript errors.

Run after ``python -m clipneuron_utils.book --notebooks tests/nbval --output _build/smoke`` (``make test``
does both). The pages are served from localhost; every request to another host is aborted, so a chart
that needed a CDN would stay empty and fail the test.
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

HTML = Path(__file__).resolve().parents[2] / "_build" / "smoke" / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
#: chapters whose charts must be drawn (the results chapter above all)
CHAPTERS = ["06_results", "01_data", "03_head_training", "07_qualitative_neurons"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML / 'index.html'} is missing: build the smoke book first (make smoke-book)")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def open_page(browser, url):
    page = browser.new_page()
    errors, external = [], []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(f"console: {msg.text}"))

    def route(r):
        if urlparse(r.request.url).hostname not in ("127.0.0.1", "localhost"):
            external.append(r.request.url)
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    return page, errors, external


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_charts_are_drawn_without_errors(site, browser, chapter):
    if not (HTML / f"{chapter}.html").is_file():
        pytest.fail(f"{chapter}.html is not in the built book")
    page, errors, external = open_page(browser, f"{site}/{chapter}.html")
    containers = page.locator(".clipneuron-chart")
    count = containers.count()
    assert count > 0, f"{chapter}: no chart containers"
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.clipneuron-chart')).every(e => e.querySelector('svg, canvas'))",
        timeout=20_000,
    )
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('.clipneuron-chart')).map(e => e.querySelectorAll('svg *').length)"
    )
    assert all(n > 10 for n in drawn), f"{chapter}: an SVG with almost nothing drawn: {drawn}"
    assert external == [], f"{chapter}: the page asked the network for {external}"
    assert errors == [], f"{chapter}: JavaScript errors: {errors}"
    page.close()
