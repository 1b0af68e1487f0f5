"""The playground page in a real headless browser (Debian's chromium, driven by playwright)
on a real `isobox serve` on the local backend: a test types a program, runs it and reads the
output off the page, as a person would. The page loads nothing but this server's own files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from isobox.api.auth import key_digest
from tests.helpers.png import GRADIENT, RED_SQUARE
from tests.helpers.server import isobox_server

pytestmark = pytest.mark.local

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "playground-key"
PROGRAM = """import sys
name = sys.stdin.read().strip()
for i in range(3):
    print(f"{i}: hello, {name}")
print("a warning", file=sys.stderr)
sys.exit(3)
"""

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "chromium is not installed (hack/test.sh installs it: apt-get install chromium)"
        )
    with playwright_api.sync_playwright() as playwright:
        # Root in a container has no user namespace sandbox for chromium's renderer.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("playground") / "server.log"
    with isobox_server(log, ISOBOX_BACKEND="local") as (address, _):
        yield address


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("playground-keyed") / "server.log"
    with isobox_server(log, ISOBOX_BACKEND="local", ISOBOX_API_KEY_HASHES=key_digest(KEY)) as (
        address,
        _,
    ):
        yield address


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    opened = context.new_page()
    opened.requests_elsewhere = []
    opened.on(
        "request",
        lambda request: (
            request.url.startswith("http://127.0.0.1:")
            or request.url.startswith("data:")
            or opened.requests_elsewhere.append(request.url)
        ),
    )
    yield opened
    context.close()


def run_program(page, code: str, stdin: str = "", language: str = "python") -> None:
    page.wait_for_selector("#language:not([disabled])")
    page.select_option("#language", language)
    page.fill("#code", code)
    page.fill("#stdin", stdin)
    page.click("#run")
    page.wait_for_selector("[data-name=verdict]", timeout=60_000)


def test_a_typed_program_runs_and_its_output_is_on_the_page(url, page):
    page.goto(f"{url}/playground")
    run_program(page, PROGRAM, stdin="browser")
    assert (
        page.text_content("#stdout") == "0: hello, browser\n1: hello, browser\n2: hello, browser\n"
    )
    assert page.text_content("#stderr") == "a warning\n"
    assert page.inner_text("[data-name=verdict]") == "runtime error"
    assert page.inner_text("[data-name=exit]") == "exit 3"
    assert page.inner_text("[data-name=duration]").endswith(" ms")
    assert "python on local" in page.inner_text("#status")
    assert page.requests_elsewhere == []


def test_the_languages_come_from_the_server_with_a_sample(url, page):
    page.goto(f"{url}/playground")
    page.wait_for_selector("#language:not([disabled])")
    offered = page.eval_on_selector_all("#language option", "options => options.map(o => o.value)")
    assert {"python", "bash", "node"} <= set(offered)
    page.select_option("#language", "bash")
    assert page.inner_text("#file") == "main.sh"
    assert "echo" in page.input_value("#code")
    page.click("#run")
    page.wait_for_selector("[data-name=verdict]", timeout=60_000)
    assert page.text_content("#stdout") == "Hello, world!\n"


def test_output_streams_onto_the_page_before_the_run_ends(url, page):
    page.goto(f"{url}/playground")
    code = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('second')\n"
    page.wait_for_selector("#language:not([disabled])")
    page.fill("#code", code)
    page.click("#run")
    page.locator("#stdout", has_text="first").wait_for()
    if page.query_selector("[data-name=verdict]") is not None:
        pytest.skip("this server answers /execute in one piece (no Server-Sent Events)")
    assert "second" not in page.text_content("#stdout")
    page.wait_for_selector("[data-name=verdict]", timeout=60_000)
    assert page.text_content("#stdout") == "first\nsecond\n"


def test_the_page_loads_without_a_key_then_asks_for_it(keyed_url, page):
    page.goto(f"{keyed_url}/playground")
    page.wait_for_selector("text=API key needed")
    assert page.inner_text("#backend") == "this server needs an API key"
    page.fill("#key", KEY)
    page.click("#key-form button[type=submit]")
    run_program(page, "print(6 * 7)")
    assert page.text_content("#stdout") == "42\n"
    assert page.context.cookies() == []
    assert page.evaluate("sessionStorage.length") == 0  # not kept unless asked


def test_an_image_output_file_is_shown_inline(url, page):
    probe = {"language": "bash", "code": "echo x > a.txt", "outputs": ["a.txt"]}
    if not httpx.post(f"{url}/execute", json=probe, timeout=60).json().get("files"):
        pytest.skip("this build's local backend does not send output files back")
    page.goto(f"{url}/playground")
    page.wait_for_selector("#language:not([disabled])")
    page.fill("#outputs", "plot.png")
    run_program(page, RED_SQUARE)
    image = page.wait_for_selector("#files img[alt='plot.png']")
    assert image.get_attribute("src").startswith("data:image/png;base64,iVBORw0KGgo")
    assert page.evaluate("document.querySelector('#files img').naturalWidth") == 4


def test_a_screenshot_for_the_readme(url, page, tmp_path):
    """Where PLAYGROUND_SCREENSHOT names a file (docs/playground.png), it is written there."""
    page.goto(f"{url}/playground")
    page.wait_for_selector("#language:not([disabled])")
    page.fill("#outputs", "plot.png")
    run_program(page, GRADIENT)
    shot = Path(os.environ.get("PLAYGROUND_SCREENSHOT") or tmp_path / "playground.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
