"""What the demo's tests share: networks trained by the package, and the page served on a free
port in a thread (``from serving import …``; pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_mlp import TrainConfig, train_many
from mnist_mlp_demo.server import DemoServer, start_server

MNIST_DATA = os.environ.get("MNIST_DATA")
needs_mnist = pytest.mark.skipif(not MNIST_DATA, reason="MNIST_DATA not set")


def train_run(log_dir: Path, data_dir: str, **settings) -> Path:
    """The run folder of one network trained by the fast engine (a few epochs)."""
    config = TrainConfig(device="cpu", data_dir=str(data_dir), log_dir=str(log_dir), **settings)
    (result,) = train_many(config)
    return result.run_dir


def mnist_run(log_dir: Path) -> Path:
    """A 784-30-10 network trained on 20,000 real MNIST digits for 2 epochs (about 94 %)."""
    return train_run(log_dir, MNIST_DATA, epochs=2, train_size=20_000)


@contextmanager
def serving(checkpoint: Path) -> Iterator[DemoServer]:
    """The demo page for ``checkpoint`` on 127.0.0.1, a free port, until the block ends."""
    server = start_server(checkpoint, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def png(pixels: np.ndarray) -> bytes:
    """A gray image (uint8 array) as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def vertical_bar(size: int = 100) -> bytes:
    """A "1": a dark vertical bar on white paper, as PNG bytes."""
    image = np.full((size, size), 255)
    image[size // 5:size * 4 // 5, size * 9 // 20:size * 11 // 20] = 0
    return png(image)
