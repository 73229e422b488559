"""The options of ``mnist-mlp-demo``, in a module that loads no torch: ``mnist_mlp_demo.main``
parses the command line with ``demo_parser`` before it imports the command (and torch), so that
``--help``, ``--version`` and a mistyped option answer at once."""

from __future__ import annotations

import argparse

from mnist_mlp.cli import command_parser

DEFAULT_HOST = "127.0.0.1"
"""Where the page is served unless told otherwise: this machine only."""
DEFAULT_PORT = 7860


def port_number(text: str) -> int:
    """``--port``: a TCP port, 1 to 65535, or 0 for any free one."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port, 1 to 65535 (0: any free port), got "
                                         f"{text}")
    return port


def demo_parser() -> argparse.ArgumentParser:
    p = command_parser("Serve a page on which to draw a digit (or upload an image) and see "
                       "what a trained network reads: the 28x28 input after the MNIST "
                       "preparation, the prediction, the ten outputs, the hidden neurons' "
                       "activations.")
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

