"""The demo's web server: the static page, and the network's reading of a posted image as JSON.

Standard library only (``http.server``). Routes:

* ``GET /``, ``/page.css``, ``/page.js``: the page, read once from this package's own files
  (no other path is served: nothing is read from the working folder);
* ``GET /info``: the network — architecture, checkpoint, epoch, test accuracy — and the upload
  limit;
* ``POST /predict[?source=drawing|upload]``: the body is an image file (the page sends its
  canvas as PNG, or the uploaded file as it is); the answer is a ``Reading`` as JSON, or
  ``{"error": "…"}`` with status 400 (not an image, a blank one, or a malformed length), 411
  (no length) or 413 (more than ``MAX_UPLOAD`` bytes, refused before reading it). A post from
  any page but its own (an ``Origin`` other than the one the request is addressed to) gets 403.

It listens on 127.0.0.1 unless told otherwise, and there answers only requests addressed to this
machine (``Host``: localhost, 127.x.x.x or ::1; else 403). The checkpoint is read with
``torch.load(weights_only=True)`` (``load_checkpoint``): no code is loaded from it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mnist_mlp.data import ImageError
from mnist_mlp.errors import UserError
from mnist_mlp.textbook import MLP
from mnist_mlp.training import BEST, LAST, Checkpoint, build_model, load_checkpoint

from .options import DEFAULT_HOST, DEFAULT_PORT
from .reading import read_digit

MAX_UPLOAD = 8 * 1024 * 1024
"""The largest image accepted, in bytes: a phone photo fits, anything larger is refused."""
STATIC = {"/": ("page.html", "text/html"), "/page.css": ("page.css", "text/css"),
          "/page.js": ("page.js", "text/javascript")}
SOURCES = {"drawing": "the drawing", "upload": "the uploaded file"}
"""How a message names the image, by the ``source`` the page gives."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class DemoError(UserError):
    """The demo cannot start (e.g. the port is taken); one-line message."""


@dataclass(frozen=True)
class NetworkInfo:
    """What the page says about the network (``GET /info``): its architecture, checkpoint file
    and epoch, the test accuracy recorded at that epoch (None without a history), and the
    largest image the server accepts."""

    architecture: str
    checkpoint: str
    epoch: int
    test_accuracy: float | None
    max_upload: int = MAX_UPLOAD

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> NetworkInfo:
        history = checkpoint.history
        return cls(checkpoint.architecture, str(checkpoint.path), checkpoint.epoch,
                   history[-1].get("test_accuracy") if history else None)


class DemoServer(ThreadingHTTPServer):
    """One network behind the page. Requests are handled in threads; the network reads one
    image at a time (``lock``).

    The threads are not daemons: ``server_close`` cuts the connections still open and waits for
    their threads, so that none is still running (and printing) while the interpreter exits
    after Ctrl-C, which can abort it."""

    daemon_threads = False

    def __init__(self, address: tuple[str, int], model: MLP, checkpoint: Checkpoint) -> None:
        if ":" in address[0]:  # an IPv6 address such as ::1
            self.address_family = socket.AF_INET6
        self.model, self.info = model, NetworkInfo.of(checkpoint)
        self.lock = threading.Lock()
        self.open_requests: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        self.static = {path: (resources.files(__package__).joinpath(name).read_bytes(), kind)
                       for path, (name, kind) in STATIC.items()}
        super().__init__(address, DemoHandler)

    @property
    def host(self) -> str:
        """The address listened on, as bound (``server_address``, which its stub also allows to
        be bytes: an AF_UNIX path)."""
        return self.socket.getsockname()[0]

    @property
    def url(self) -> str:
        host, port = self.host, self.server_address[1]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.open_lock:
            self.open_requests.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.open_lock:
            self.open_requests.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening, cut the connections still open (a slow client would otherwise hold
        the exit up to the handler's ``timeout``), and wait for their threads."""
        with self.open_lock:
            for request in self.open_requests:
                try:
                    request.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed by the client
                    pass
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that leaves mid-answer (a closed tab, our own ``server_close``) is no error;
        anything else, a bug, prints its traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class DemoHandler(BaseHTTPRequestHandler):
    """The routes of the module docstring."""

    server: DemoServer
    server_version = "mnist-mlp-demo"
    timeout = 30  # seconds a client may take to send its request

    def parse_request(self) -> bool:
        """The request line and headers, and, on a loopback address, a Host header that names
        this machine: otherwise a web page whose own name was made to point at 127.0.0.1 (DNS
        rebinding) could read ``/info`` and post images from the user's browser."""
        if not super().parse_request():
            return False
        try:
            host = urlsplit("//" + self.headers.get("Host", "")).hostname
        except ValueError:  # a malformed Host, such as "[::1", names no machine
            host = ""
        if host is None or not is_loopback(self.server.host) or is_loopback(host):
            return True
        self.close_connection = True
        self.send_json(HTTPStatus.FORBIDDEN, {"error": f"this page answers as {self.server.url}"
                                                       " only: open it there"})
        return False

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/info":
            self.send_json(HTTPStatus.OK, asdict(self.server.info))
        elif path in self.server.static:
            body, kind = self.server.static[path]
            self.send_body(HTTPStatus.OK, body, f"{kind}; charset=utf-8")
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no page {path}"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/predict":
            self.send_json(HTTPStatus.NOT_FOUND, {"error": f"nothing to post to at {url.path}"})
            return
        if not self.from_own_page():
            self.close_connection = True
            self.send_json(HTTPStatus.FORBIDDEN, {"error": (
                f"this page reads images posted from its own page only: open {self.server.url}")})
            return
        body = self.read_body()
        if body is None:
            return
        source = parse_qs(url.query).get("source", [""])[0]
        try:
            with self.server.lock:
                reading = read_digit(self.server.model, body, SOURCES.get(source, "the image"))
        except ImageError as error:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self.send_json(HTTPStatus.OK, reading.to_dict())

    def from_own_page(self) -> bool:
        """Whether a POST comes from this server's own page: a browser names the page that
        posts (``Origin``), and any page the user has open may post to a local server; only an
        ``Origin`` that is the address the request was sent to (``Host``) is this page. Programs
        such as curl send none, and are answered."""
        origin = self.headers.get("Origin")
        return origin is None or origin.lower() == f"http://{self.headers.get('Host', '')}".lower()

    def read_body(self) -> bytes | None:
        """The request's body; None (the error already answered) if its length is missing,
        malformed or over ``MAX_UPLOAD``, in which case nothing of it is read and the connection
        closes."""
        length = content_length(self.headers.get("Content-Length"))
        if isinstance(length, int):
            return self.rfile.read(length)
        self.close_connection = True
        self.send_json(length[0], {"error": length[1]})
        return None

    def send_json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self.send_body(status, json.dumps(data).encode(), "application/json")

    def send_body(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request (a bug in a handler still prints its traceback)."""


def content_length(header: str | None) -> int | tuple[HTTPStatus, str]:
    """The length in bytes of a request's body, as its ``Content-Length`` ``header`` gives it;
    else the status and the message that refuse it (missing, malformed, over ``MAX_UPLOAD``)."""
    if header is None:
        return HTTPStatus.LENGTH_REQUIRED, "send the image with a Content-Length"
    if not (header.isascii() and header.isdigit()):  # "²".isdigit(), yet int("²") fails
        return HTTPStatus.BAD_REQUEST, f"Content-Length {header[:20]!r} is not a number of bytes"
    if len(header) > 12 or int(header) > MAX_UPLOAD:  # 12 digits: no huge int parsed
        size = f"{int(header) / 2**20:.1f} MB" if len(header) <= 12 else "over a terabyte"
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, (
            f"the image is {size}; the page reads images up to {MAX_UPLOAD / 2**20:.0f} MB: "
            "give a smaller one")
    return int(header)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_server(checkpoint_path: str | os.PathLike, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT) -> DemoServer:
    """Load the network of a checkpoint (a run folder: best.pt, else last.pt) and bind the
    server to ``host``:``port`` (0: any free port); ``serve_forever()`` then answers.

    Raises ``CheckpointError`` for a missing or invalid checkpoint and ``DemoError`` if the
    address cannot be used.
    """
    checkpoint = load_checkpoint(checkpoint_path, prefer=(BEST, LAST))
    model = build_model(checkpoint)
    try:
        return DemoServer((host, port), model, checkpoint)
    except OSError as error:
        raise DemoError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose "
                        "another --port (or --host)") from None
