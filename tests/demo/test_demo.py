"""The demo page's server (mnist-mlp-demo): what it serves, the network's reading of a posted
image, bad input, the command. The page itself, in a browser: test_demo_browser.py."""

import http.client
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serving import mnist_run, needs_mnist, png, serving, train_run, vertical_bar

from mnist_mlp.data import load_mnist
from mnist_mlp.data.images import ImageError, prepare_image
from mnist_mlp.inference import predict
from mnist_mlp.training.checkpoints import build_model, load_checkpoint
from mnist_mlp_demo.command import main as demo_main
from mnist_mlp_demo.server import MAX_UPLOAD, is_loopback

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("runs"), tiny_data, hidden_size=16, epochs=2,
                     validation_size=50)


@pytest.fixture(scope="module")
def server(tiny_run):
    with serving(tiny_run) as server:
        yield server


def request(server, method, path, body=None, headers=None):
    """(status, headers, body) of one request to ``server``."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_image(server, image: bytes, source: str = "drawing"):
    status, _, body = request(server, "POST", f"/predict?source={source}", image)
    return status, json.loads(body)


# ---------------------------------------------------------------------------------------------
# What is served


def test_the_page_and_only_the_page_is_served(server):
    for path, name, kind in (("/", "page.html", "text/html"), ("/page.js", "page.js",
                                                                "text/javascript"),
                             ("/page.css", "page.css", "text/css")):
        status, headers, body = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind)
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert body == resources.files("mnist_mlp_demo").joinpath(name).read_bytes()
    for path in ("/README.md", "/pyproject.toml", "/../pyproject.toml", "/mnist_mlp_demo/server.py",
                 "/page.html/..", "//etc/passwd"):
        status, _, body = request(server, "GET", path)
        assert status == 404 and "error" in json.loads(body), path


def test_it_listens_on_localhost_only_by_default(server):
    assert server.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")


def test_info_describes_the_network(server, tiny_run):
    status, _, body = request(server, "GET", "/info")
    info = json.loads(body)
    assert status == 200 and info["architecture"] == "784-16-10 (sigmoid hidden, softmax output)"
    assert info["checkpoint"] == str(tiny_run / "best.pt") and info["epoch"] >= 1
    assert 0 <= info["test_accuracy"] <= 1 and info["max_upload"] == MAX_UPLOAD


# ---------------------------------------------------------------------------------------------
# The reading of an image


def test_the_answer_is_the_packages_reading_of_the_image(server, tiny_run):
    image = vertical_bar()
    status, answer = post_image(server, image)
    model = build_model(load_checkpoint(tiny_run))
    x = prepare_image(io.BytesIO(image)).unsqueeze(0)
    (prediction,) = predict(model, x)
    assert status == 200 and answer["pixels"] == x[0].tolist()
    assert answer["digit"] == prediction.digit and answer["output_activation"] == "softmax"
    assert answer["outputs"] == pytest.approx(prediction.outputs, abs=1e-12)
    assert sum(answer["outputs"]) == pytest.approx(1.0)
    with torch.no_grad():
        hidden = model.hidden_activations(x)[0].tolist()
    assert len(answer["hidden"]) == 16 and answer["hidden"] == pytest.approx(hidden)
    assert answer["hidden_activation"] == "sigmoid"


def test_a_sigmoid_output_layer_gives_its_outputs_as_they_are(tiny_data, tmp_path):
    run = train_run(tmp_path, tiny_data, hidden_size=16, epochs=1, validation_size=50,
                    output_activation="sigmoid", loss="binary_cross_entropy")
    with serving(run) as server:
        status, answer = post_image(server, vertical_bar())
    (prediction,) = predict(build_model(load_checkpoint(run)),
                            prepare_image(io.BytesIO(vertical_bar())).unsqueeze(0))
    assert status == 200 and answer["output_activation"] == "sigmoid"
    assert prediction.normalised  # predict divides them by their sum; the page does not
    assert answer["outputs"] == pytest.approx(prediction.outputs, abs=1e-12)


@needs_mnist
def test_real_mnist_test_digits_are_read_as_their_labels(tmp_path):
    """The first 100 test digits, each sent as a 28×28 PNG as it is in the MNIST file."""
    test = load_mnist(None, train_size=1, validation_size=0).test
    with serving(mnist_run(tmp_path)) as server:
        digits = [post_image(server, png((test.images[i] * 256).reshape(28, 28).numpy()),
                             "upload")[1]["digit"] for i in range(100)]
    labels = test.labels[:100].tolist()
    assert digits[0] == labels[0] == 7
    assert sum(d == label for d, label in zip(digits, labels, strict=True)) >= 90


# ---------------------------------------------------------------------------------------------
# Bad input: a message, never a traceback


def test_a_blank_drawing_gets_a_clear_message(server):
    for paper in (255, 0):  # white paper, or all black
        status, answer = post_image(server, png(np.full((280, 280), paper)))
        assert status == 400
        assert answer == {"error": "no digit in the drawing: it is blank; give an image of one "
                                   "digit"}


def test_a_file_that_is_no_image_gets_a_clear_message(server):
    status, answer = post_image(server, b"%PDF-1.4 not an image", "upload")
    assert status == 400 and answer["error"].startswith(
        "cannot read the uploaded file: it is not an image file")


def test_an_oversized_upload_is_refused_unread(server):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.putrequest("POST", "/predict?source=upload")
    connection.putheader("Content-Length", str(MAX_UPLOAD + 1))
    connection.endheaders()  # and no body: the server must answer without reading one
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 413 and "the page reads images up to 8 MB" in answer["error"]
    status, _, body = request(server, "POST", "/predict", headers={"Transfer-Encoding": "chunked"})
    assert status == 411 and "Content-Length" in json.loads(body)["error"]
    assert request(server, "GET", "/info")[0] == 200  # still serving
    assert request(server, "POST", "/elsewhere", b"x")[0] == 404


def raw_post(server, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """Status and answer of a POST to /predict with ``headers`` (and Host, unless given)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        connection.putrequest("POST", "/predict?source=upload", skip_host=True,
                              skip_accept_encoding=True)
        headers = {"Host": f"127.0.0.1:{server.server_address[1]}"} | headers
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(("length", "status"), [
    ("²", 400), ("-5", 400), ("0x10", 400), ("", 400), ("1e3", 400), ("½", 400),
    ("9" * 5000, 413), (str(2**64), 413)])
def test_a_malformed_content_length_is_answered_400_or_413(server, capsys, length, status):
    """Lengths that are no number of bytes — digits to ``str.isdigit`` (superscripts,
    fractions) that ``int()`` refuses, negative ones — and lengths too long to be parsed at all:
    one answer, no traceback, and the server goes on."""
    answer_status, answer = raw_post(server, {"Content-Length": length})
    assert answer_status == status and "error" in answer
    assert request(server, "GET", "/info")[0] == 200
    assert "Traceback" not in capsys.readouterr().err


def test_only_the_pages_own_posts_are_answered(server):
    """A page on another site, open in the same browser, may post to the demo: the browser
    names it in ``Origin``, and it gets 403 without its image being read. The page itself
    (``Origin`` the address it was served from), and programs that send no ``Origin``, are
    answered."""
    host = f"127.0.0.1:{server.server_address[1]}"
    image = vertical_bar()
    for origin, status in ((None, 200), (f"http://{host}", 200), ("https://evil.example", 403),
                           ("null", 403), (f"http://{host}.evil.example", 403),
                           (f"http://localhost:{server.server_address[1]}", 403)):
        headers = {"Host": host, "Content-Length": str(len(image))}
        if origin is not None:
            headers["Origin"] = origin
        answer_status, answer = raw_post(server, headers, image)
        assert answer_status == status, origin
        assert ("digit" in answer) == (status == 200)
    localhost = f"localhost:{server.server_address[1]}"  # opened as localhost: its own origin
    assert raw_post(server, {"Host": localhost, "Origin": f"http://{localhost}",
                             "Content-Length": str(len(image))}, image)[0] == 200


def test_an_image_in_memory_is_prepared_as_its_file_and_named_in_messages(tmp_path):
    path = tmp_path / "one.png"
    path.write_bytes(vertical_bar())
    assert torch.equal(prepare_image(io.BytesIO(vertical_bar())), prepare_image(path))
    with pytest.raises(ImageError, match=r"^cannot read the upload: it is not an image file"):
        prepare_image(io.BytesIO(b"junk"), "the upload")


def test_an_image_of_too_many_pixels_is_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own limit, lower than ours
    for side in (40, 100):
        with pytest.raises(ImageError, match=r"has more than 1,000 pixels.*too many to decode "
                                             "safely; give a smaller image"):
            prepare_image(io.BytesIO(vertical_bar(side)), "the upload")


# ---------------------------------------------------------------------------------------------
# The command


def test_a_missing_or_invalid_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for path, text in ((tmp_path / "missing", "no checkpoint at"),
                       (tmp_path / "junk.pt", "is not a valid mnist-mlp checkpoint")):
        assert demo_main([str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and text in err


@pytest.mark.parametrize("port", ["70000", "-1", "65536", "http"])
def test_a_port_that_is_no_port_is_one_line(tiny_run, capsys, port):
    with pytest.raises(SystemExit) as exit_info:
        demo_main([str(tiny_run), "--port", port])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "--port" in err
    assert "Traceback" not in err


def test_a_taken_port_is_one_line(server, tiny_run, capsys):
    port = server.server_address[1]
    assert demo_main([str(tiny_run), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose "
                   "another --port (or --host)\n")


def test_closing_the_server_leaves_no_request_thread_behind(tiny_run):
    # A client that connects and sends nothing holds its handler thread in a read; closing the
    # server cuts that connection and waits for the thread, so that no thread is still running
    # (and printing) while the interpreter exits after Ctrl-C.
    before = set(threading.enumerate())
    with serving(tiny_run) as server:
        client = socket.create_connection(server.server_address[:2])
        for _ in range(1000):  # the server accepts in its own thread
            if server.open_requests:
                break
            time.sleep(0.01)
        started = set(threading.enumerate()) - before
    try:
        assert len(started) == 2  # serve_forever's and the request's
        assert not any(thread.is_alive() for thread in started)
    finally:
        client.close()


def test_on_localhost_only_requests_addressed_to_this_machine_are_answered(server):
    port = server.server_address[1]
    for host, status in ((f"localhost:{port}", 200), (f"127.0.0.1:{port}", 200),
                         (f"[::1]:{port}", 200), (f"rebound.example:{port}", 403),
                         ("192.168.1.7", 403), ("[::1", 403)):
        answer, _, body = request(server, "GET", "/info", headers={"Host": host})
        assert answer == status, host
    assert json.loads(body) == {"error": f"this page answers as {server.url} only: open it "
                                         "there"}


def test_a_client_that_leaves_mid_answer_is_no_error(server, capsys):
    for error, printed in ((BrokenPipeError(), False), (ConnectionResetError(), False),
                           (ValueError("a bug"), True)):
        try:
            raise error
        except Exception:
            server.handle_error(None, ("127.0.0.1", 1))
        err = capsys.readouterr().err
        assert ("ValueError: a bug" in err) == printed and (err != "") == printed


def test_the_command_serves_on_localhost_until_ctrl_c(tiny_run):
    command = [sys.executable, str(ROOT / "scripts" / "demo.py"), str(tiny_run), "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        try:
            lines = [process.stdout.readline(), process.stdout.readline()]
            assert lines[0].startswith("784-16-10 (sigmoid hidden, softmax output), epoch ")
            assert lines[1].startswith("open http://127.0.0.1:") and "Ctrl-C" in lines[1]
            url = lines[1].split()[1]
            host, port = url.removeprefix("http://").rstrip("/").split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", "/")
            assert connection.getresponse().status == 200
            connection.close()
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (0, "stopped\n", "")
