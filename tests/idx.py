"""Write tiny, valid (or deliberately broken) MNIST files in IDX format for tests.

IDX is the format of the MNIST files: a big-endian header (magic number, then one
32-bit size per dimension) followed by the raw bytes. The magic number is
``0x0800 + ndim`` for uint8 data, so 2051 for images (N, 28, 28) and 2049 for labels (N,).

``write_idx_mnist`` lays the files out as torchvision expects them:
``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``. Its images are
learnable: each class is a bright blob at its own place on the 28x28 grid, jittered by
a pixel or two, on a background of faint noise. Other tests import it with
``from idx import write_idx_mnist`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
FILE_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

# Centre (row, column) of each class's blob: two rows of five, well apart.
_BLOB_CENTRES = [(8, 4 + 5 * c) for c in range(5)] + [(19, 4 + 5 * c) for c in range(5)]


@dataclass(frozen=True)
class TinyMNIST:
    """What ``write_idx_mnist`` wrote: uint8 images (N, 28, 28), int64 labels (N,)."""

    raw_folder: Path
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def idx_bytes(data: np.ndarray | torch.Tensor, *, magic: int | None = None) -> bytes:
    """Return ``data`` (uint8) encoded as an IDX file; ``magic`` overrides the header's."""
    array = np.ascontiguousarray(np.asarray(data), dtype=np.uint8)
    if magic is None:
        magic = 0x0800 + array.ndim
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + array.tobytes()


def write_idx(
    path: Path,
    data: np.ndarray | torch.Tensor,
    *,
    magic: int | None = None,
    truncate: int = 0,
) -> Path:
    """Write ``data`` as one IDX file at ``path`` (parents created) and return ``path``.

    ``magic`` replaces the magic number (to write a corrupt header) and ``truncate``
    drops that many bytes from the end (to write a truncated file).
    """
    content = idx_bytes(data, magic=magic)
    if truncate:
        content = content[:-truncate]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def make_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` learnable fake digits: uint8 images (n, 28, 28) and uint8 labels (n,).

    Labels cycle through 0..9 (so every class appears when n >= 10) in a shuffled order.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    rows, cols = np.mgrid[0:28, 0:28]
    images = rng.integers(0, 12, size=(n, 28, 28)).astype(np.float64)
    for i, label in enumerate(labels):
        row, col = _BLOB_CENTRES[label]
        row += rng.integers(-1, 2)
        col += rng.integers(-1, 2)
        images[i] += 255.0 * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 8.0)
    images[:, 0, 0] = 0  # a known pixel at each end of the range
    images[:, 27, 27] = 255
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels


def write_idx_mnist(
    root: Path,
    n_train: int = 60,
    n_test: int = 20,
    seed: int = 0,
) -> TinyMNIST:
    """Write a tiny learnable MNIST under ``root/MNIST/raw/`` (torchvision layout).

    The training and test images come from different seeds, so they differ.
    Returns what was written, as tensors, for comparison.
    """
    raw = Path(root) / "MNIST" / "raw"
    train_images, train_labels = make_digits(n_train, seed)
    test_images, test_labels = make_digits(n_test, seed + 1)
    write_idx(raw / FILE_NAMES["train", "images"], train_images)
    write_idx(raw / FILE_NAMES["train", "labels"], train_labels)
    write_idx(raw / FILE_NAMES["test", "images"], test_images)
    write_idx(raw / FILE_NAMES["test", "labels"], test_labels)
    return TinyMNIST(
        raw_folder=raw,
        train_images=torch.from_numpy(train_images),
        train_labels=torch.from_numpy(train_labels).long(),
        test_images=torch.from_numpy(test_images),
        test_labels=torch.from_numpy(test_labels).long(),
    )
