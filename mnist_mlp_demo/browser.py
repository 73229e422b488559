"""The demo page in a real browser: a headless Chromium (the system's ``chromium`` and
``chromedriver``, driven by Selenium) that opens the page, draws digits on it with mouse or
touch actions and reads what the page shows. Used by the tests and by ``mnist-mlp-demo
--screenshot``; needs the ``browser`` extra (selenium).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mnist_mlp.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install chromium chromium-driver, and pip install selenium"
STROKES: dict[str, list[list[tuple[float, float]]]] = {
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.6, 0.5), (0.45, 0.85)]],
}
"""Digits as strokes, each a polyline of points in the pad's unit square (x right, y down)."""
PAGE_WAIT = 15
"""Seconds to wait for the page to answer before giving up."""


class BrowserError(UserError):
    """No browser to drive, or the page did not answer; one-line message."""


def missing_browser() -> str | None:
    """Why no headless Chromium can be driven here, in one line; None if one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed ({INSTALL})"
    if not any(shutil.which(name) for name in BROWSERS):
        return f"no chromium browser on PATH ({INSTALL})"
    if shutil.which("chromedriver") is None:
        return f"no chromedriver on PATH ({INSTALL})"
    return None


@contextmanager
def headless_chromium(width: int = 1100, height: int = 900) -> Iterator[Any]:
    """A Selenium ``WebDriver`` for a headless Chromium with a ``width``×``height`` window."""
    reason = missing_browser()
    if reason is not None:
        raise BrowserError(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(p for p in map(shutil.which, BROWSERS) if p is not None)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def draw(driver: Any, strokes: list[list[tuple[float, float]]], pointer: str = "mouse") -> None:
    """Draw ``strokes`` on the page's pad with a ``pointer`` ("mouse", "touch" or "pen"): for
    each stroke, press at its first point, move through the others, lift."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.ID, "pad")
    width, height = pad.size["width"], pad.size["height"]
    actions = ActionBuilder(driver, mouse=PointerInput(pointer, pointer), duration=10)
    for stroke in strokes:
        points = [((x - 0.5) * width, (y - 0.5) * height) for x, y in stroke]  # from the centre
        actions.pointer_action.move_to(pad, *points[0]).pointer_down()
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            for step in range(1, 9):  # several moves per segment, as a hand makes them
                t = step / 8
                actions.pointer_action.move_to(pad, x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        actions.pointer_action.pointer_up()
    actions.perform()


@dataclass(frozen=True)
class PageState:
    """What the page shows: the predicted digit ("" if none), the message, the ten output values
    as written under the bars, the output layer's title."""

    digit: str
    message: str
    outputs: list[str]
    outputs_title: str


def page_state(driver: Any) -> PageState:
    from selenium.webdriver.common.by import By

    def text(id_: str) -> str:
        return driver.find_element(By.ID, id_).text

    values = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#bars .value")]
    return PageState(text("digit"), text("message"), values, text("outputs-title"))


def wait_for_answer(driver: Any, timeout: float = PAGE_WAIT) -> PageState:
    """Wait until the page shows a prediction or a message; ``BrowserError`` after ``timeout``."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        WebDriverWait(driver, timeout).until(
            lambda d: page_state(d).digit or page_state(d).message)
    except TimeoutException:
        raise BrowserError(f"the page showed no answer within {timeout:g} s") from None
    return page_state(driver)


def open_page(driver: Any, url: str) -> None:
    """Open the page at ``url`` and wait until it has said which network it shows."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    driver.get(url)
    try:
        WebDriverWait(driver, PAGE_WAIT).until(
            lambda d: "loading" not in d.find_element(By.ID, "network").text)
    except TimeoutException:
        raise BrowserError(f"the page at {url} did not load within {PAGE_WAIT} s") from None


def screenshot(url: str, digit: str = "7") -> bytes:
    """A PNG of the page at ``url`` after drawing ``digit`` (a key of ``STROKES``) on it."""
    with headless_chromium() as driver:
        open_page(driver, url)
        draw(driver, STROKES[digit])
        wait_for_answer(driver)
        inner, outer, page = driver.execute_script(
            "return [innerHeight, outerHeight, document.documentElement.scrollHeight]")
        driver.set_window_size(driver.get_window_size()["width"], outer - inner + page)
        return driver.get_screenshot_as_png()  # the whole page, nothing below it
