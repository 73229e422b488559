"""mnist-mlp: the textbook 784-l-10 network on MNIST, trained by SGD and backpropagation.

The package is in layers, each calling only those below it:

* ``textbook``: the chapter's network, losses, backpropagation, SGD step and measures;
* ``data``: the MNIST files, the splits, mini-batches, image files of digits;
* ``engine``: K networks trained at once (tensor operations, CUDA graphs, a C loop);
* ``training``: one driver for both trainers, ``train`` and ``train_many``, checkpoints, logs;
* ``inference``: a trained network evaluated on the test set, or reading digits in images;
* ``experiments``: the reproduction of the chapter's figures, the benchmark, statistics;
* ``cli``: the commands.
"""

from .textbook.model import MLP
from .training import TrainConfig, TrainResult, train, train_many

__all__ = ["MLP", "TrainConfig", "TrainResult", "train", "train_many"]
