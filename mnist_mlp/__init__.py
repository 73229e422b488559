"""mnist-mlp: the textbook 784-l-10 network on MNIST, trained by SGD and backpropagation."""

from .model import MLP
from .train import TrainConfig, TrainResult, train

__all__ = ["MLP", "TrainConfig", "TrainResult", "train"]
