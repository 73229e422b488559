"""The data layer: the MNIST files (``mnist``), digits as tensors and the splits (``digits``),
mini-batches (``batches``), and an image file of a digit prepared as MNIST was (``images``).
It knows nothing of training; of the network, only the input and output sizes. docs/data.md."""

from .batches import batches, epoch_order, steps_per_epoch
from .digits import DigitTensors, MNISTSplits
from .images import ImageError, prepare_image
from .mnist import DataError, load_mnist, load_test_digits, resolve_data_dir

__all__ = ["DataError", "DigitTensors", "ImageError", "MNISTSplits", "batches", "epoch_order",
           "load_mnist", "load_test_digits", "prepare_image", "resolve_data_dir",
           "steps_per_epoch"]
