"""The demo page: draw a digit (or upload an image) and watch the trained network read it.

* ``reading``: what the page shows for one image (``read_digit``): the digit as the network
  sees it after the MNIST preparation, the ten outputs, the hidden neurons' activations;
* ``server``: a small HTTP server on 127.0.0.1 (standard library only) that serves the static
  page (``page.html``, ``page.css``, ``page.js``) and answers ``POST /predict`` with JSON;
* ``browser``: a headless Chromium driving the page (Selenium), for the tests and the README's
  screenshot.

The command is ``mnist-mlp-demo`` (``mnist_mlp.cli.demo``).
"""

DEFAULT_HOST = "127.0.0.1"
"""Where the page is served unless told otherwise: this machine only."""
DEFAULT_PORT = 7860
