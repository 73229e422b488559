"""``mnist-mlp-demo``: a local web page to draw digits on and watch a trained network read them."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ..demo.server import DEFAULT_HOST, DEFAULT_PORT, DemoServer, is_loopback, start_server
from ..files import FILE, check_writable, examine, write_atomically
from .common import OneLineParser, one_line_errors


def demo_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        description="Serve a page on which to draw a digit (or upload an image) and see what "
                    "a trained network reads: the 28x28 input after the MNIST preparation, "
                    "the prediction, the ten outputs, the hidden neurons' activations.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                   help="a run folder (its best.pt, else last.pt) or a checkpoint (.pt)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on; anything but 127.0.0.1 (or localhost) opens the "
                        "page to other machines")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help="port to listen on, 1 to 65535 (0: any free port)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="instead of serving: draw a 7 on the page in headless Chromium and "
                        "save the page as this PNG (needs chromium, chromedriver, selenium)")
    return p


def port_number(text: str) -> int:
    """``--port``: a TCP port, 1 to 65535, or 0 for any free one."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port, 1 to 65535 (0: any free port), got "
                                         f"{text}")
    return port


def save_screenshot(server: DemoServer, path: str) -> None:
    """Serve in a thread while a headless Chromium draws on the page, and save what it shows."""
    from ..demo.browser import screenshot

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        png = screenshot(server.url)
    finally:
        server.shutdown()
        thread.join()
    write_atomically(path, lambda file: file.write(png))
    print(f"wrote {path}")


def serve(server: DemoServer, host: str) -> None:
    """Answer the page's requests until Ctrl-C."""
    if not is_loopback(host):
        print(f"warning: listening on {host}: other machines can reach the page",
              file=sys.stderr)
    print(f"open {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    """``mnist-mlp-demo``: serve the page until Ctrl-C, or save a screenshot of it."""
    args = demo_parser().parse_args(argv)
    if args.screenshot:
        fix = "choose another --screenshot path"
        examine(args.screenshot, "the screenshot", fix, FILE)  # a file to replace, if any
        check_writable(Path(args.screenshot).parent, "the screenshot", fix)
    server = start_server(args.checkpoint, args.host, 0 if args.screenshot else args.port)
    info = server.info
    print(f"{info.architecture}, epoch {info.epoch} ({info.checkpoint})")
    try:
        if args.screenshot:
            save_screenshot(server, args.screenshot)
        else:
            serve(server, args.host)
    finally:
        server.server_close()
    return 0
