"""The data layer: MNIST files, the book's splits, mini-batches, and image files of digits.

* ``mnist``: finding, downloading, checking and reading the four MNIST files (``load_mnist``);
* ``digits``: digits as tensors (``DigitTensors``) and the splits (``MNISTSplits``);
* ``batches``: one random order per epoch (``epoch_order``), mini-batches from a ``DataLoader``,
  and how many there are (``steps_per_epoch``);
* ``images``: an image file of a digit, prepared as MNIST was (``prepare_image``).

It knows nothing of training; of the network it knows only the input and output sizes.
"""

from .batches import batches, epoch_order, steps_per_epoch
from .digits import DigitTensors, MNISTSplits
from .images import ImageError, prepare_image
from .mnist import DataError, load_mnist, load_test_digits, resolve_data_dir

__all__ = ["DataError", "DigitTensors", "ImageError", "MNISTSplits", "batches", "epoch_order",
           "load_mnist", "load_test_digits", "prepare_image", "resolve_data_dir",
           "steps_per_epoch"]
