"""The demo page: draw a digit (or upload an image) and watch the trained network read it.

* ``reading``: what the page shows for one image (``read_digit``): the digit as the network
  sees it after the MNIST preparation, the ten outputs, the hidden neurons' activations;
* ``server``: a small HTTP server on 127.0.0.1 (standard library only) that serves the static
  page (``page.html``, ``page.css``, ``page.js``) and answers ``POST /predict`` with JSON;
* ``browser``: a headless Chromium driving the page (Selenium), for the tests and the README's
  screenshot;
* ``options`` and ``command``: the command ``mnist-mlp-demo`` (``scripts/demo.py``), ``main``.

It uses the library ``mnist_mlp`` through its public API only (``tests/test_layers.py``).
"""

from __future__ import annotations


def main() -> int:
    """``mnist-mlp-demo``: its options parsed before torch loads (``--help``, ``--version``)."""
    from mnist_mlp.cli import run_command

    from .options import demo_parser

    return run_command(f"{__name__}.command", demo_parser)
