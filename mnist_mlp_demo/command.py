"""``mnist-mlp-demo``: a local web page to draw digits on and watch a trained network read them."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from mnist_mlp.cli import one_line_errors
from mnist_mlp.files import FILE, check_writable, examine, write_atomically

from .options import demo_parser
from .server import DemoServer, is_loopback, start_server


def save_screenshot(server: DemoServer, path: str) -> None:
    """Serve in a thread while a headless Chromium draws on the page, and save what it shows."""
    from .browser import screenshot

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
