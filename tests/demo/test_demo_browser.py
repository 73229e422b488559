"""The demo page in a real browser: headless Chromium (system chromium and chromedriver, driven
by Selenium) draws on the page with mouse and touch actions and reads what the page shows."""

import base64

import pytest
from PIL import Image
from serving import mnist_run, needs_mnist, serving, train_run, vertical_bar

from mnist_mlp.training.checkpoints import build_model, load_checkpoint
from mnist_mlp_demo.browser import (
    STROKES,
    draw,
    headless_chromium,
    missing_browser,
    open_page,
    page_state,
    wait_for_answer,
)
from mnist_mlp_demo.command import main as demo_main
from mnist_mlp_demo.reading import read_digit

# without the browser extra (pip install -e '.[browser]') the file is skipped, not an error
WebDriverWait = pytest.importorskip("selenium.webdriver.support.wait",
                                    reason="needs selenium (the browser extra)").WebDriverWait
pytestmark = pytest.mark.skipif(missing_browser() is not None,
                                reason=f"no headless browser: {missing_browser()}")


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("runs"), tiny_data, hidden_size=16, epochs=2,
                     validation_size=50)


@pytest.fixture(scope="module")
def page(browser, tiny_run):
    """The page of the tiny network, opened afresh for each test that uses it."""
    with serving(tiny_run) as server:
        yield lambda: open_page(browser, server.url)


def script(browser, code):
    return browser.execute_script(code)


def test_a_digit_drawn_with_the_mouse_is_read_and_shown(browser, page, tiny_run):
    page()
    draw(browser, STROKES["1"], pointer="mouse")
    state = wait_for_answer(browser)
    assert state.message == "" and state.digit in list("0123456789")
    # What the page shows is the package's reading of the drawing it sent.
    drawing = script(browser, "return document.getElementById('pad').toDataURL('image/png')")
    reading = read_digit(build_model(load_checkpoint(tiny_run)),
                         base64.b64decode(drawing.split(",", 1)[1]), "the drawing")
    assert state.digit == str(reading.digit)
    assert state.outputs == [f"{value:.3f}" for value in reading.outputs]
    assert "probabilities" in state.outputs_title
    shown = script(browser, "return Array.from(document.getElementById('input')"
                            ".getContext('2d').getImageData(0, 0, 28, 28).data)")
    assert shown[0::4] == [round(value * 256) for value in reading.pixels]
    assert max(shown[0::4]) == 255  # a stroke, stretched to full contrast
    hidden = script(browser, "const c = document.getElementById('hidden'); return Array.from("
                             "c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
    assert any(hidden[3::4])  # bars drawn
    assert "16 values" in script(browser, "return document.getElementById('hidden-title')"
                                          ".textContent")


def test_a_blank_pad_gets_a_message(browser, page):
    page()
    browser.find_element("id", "read").click()
    state = wait_for_answer(browser)
    assert state.digit == ""
    assert state.message == "no digit in the drawing: it is blank; give an image of one digit"


def test_an_upload_is_read_and_an_oversized_one_refused(browser, page, tmp_path):
    page()
    (tmp_path / "one.png").write_bytes(vertical_bar())
    browser.find_element("id", "upload").send_keys(str(tmp_path / "one.png"))
    assert wait_for_answer(browser).digit != ""
    big = tmp_path / "big.png"
    big.write_bytes(vertical_bar() + bytes(9 * 2**20))
    browser.find_element("id", "upload").send_keys(str(big))
    WebDriverWait(browser, 10).until(lambda driver: page_state(driver).message)
    state = page_state(browser)
    assert state.digit == "" and state.outputs == []
    assert state.message == "big.png is 9.0 MB; the page reads images up to 8.0 MB: give a " \
                            "smaller one"


def test_sigmoid_outputs_are_labelled_as_such(browser, tiny_data, tmp_path):
    run = train_run(tmp_path, tiny_data, hidden_size=16, epochs=1, validation_size=50,
                    output_activation="sigmoid", loss="binary_cross_entropy")
    with serving(run) as server:
        open_page(browser, server.url)
        draw(browser, STROKES["7"])
        state = wait_for_answer(browser)
    assert state.digit != "" and len(state.outputs) == 10
    assert "sigmoid outputs" in state.outputs_title and "not probabilities" in state.outputs_title


@needs_mnist
def test_digits_drawn_by_finger_and_mouse_are_read_right(browser, tmp_path):
    with serving(mnist_run(tmp_path)) as server:
        open_page(browser, server.url)
        draw(browser, STROKES["1"], pointer="touch")
        assert wait_for_answer(browser).digit == "1"
        browser.find_element("id", "clear").click()
        assert page_state(browser).digit == ""
        draw(browser, STROKES["7"], pointer="mouse")
        assert wait_for_answer(browser).digit == "7"


def test_the_screenshot_command(tiny_run, tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert demo_main([str(tiny_run), "--screenshot", str(out)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {out}\n")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 800
