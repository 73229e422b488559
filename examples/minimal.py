"""The whole textbook experiment on one screen: MNIST, the 784-30-10 network, the
cross-entropy (35), mini-batch SGD by backpropagation, and accuracy — the textbook layer and
torchvision only (and the trainer's rule for CPU threads).

    python examples/minimal.py [MNIST_ROOT] [EPOCHS]      (MNIST_ROOT holds MNIST/raw/;
                                                          default: $MNIST_DATA, else ./data)
"""

import os
import sys

import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from mnist_mlp.textbook import MLP, sgd_step
from mnist_mlp.textbook.losses import binary_cross_entropy
from mnist_mlp.textbook.metrics import accuracy
from mnist_mlp.training import step_threads


def digits(root: str, train: bool) -> TensorDataset:
    """MNIST as rows of 784 grey values in [0, 1) (the byte / 256), with labels 0–9."""
    mnist = torchvision.datasets.MNIST(root, train=train, download=True)
    return TensorDataset(mnist.data.flatten(1).float() / 256, mnist.targets)


def main(root: str | None = None, epochs: int = 1, hidden: int = 30, lr: float = 0.5,
         batch_size: int = 10) -> float:
    """Train for ``epochs``, printing the test accuracy after each; returns the last one."""
    root = root or os.environ.get("MNIST_DATA") or "data"
    if step_threads(batch_size) is not None:  # small mini-batches: one thread is faster
        torch.set_num_threads(step_threads(batch_size))
    torch.manual_seed(0)
    train_set, test_set = digits(root, train=True), digits(root, train=False)
    batches = DataLoader(train_set, batch_size=batch_size, shuffle=True)  # new order each epoch
    model = MLP(hidden)  # sigmoid hidden layer, softmax output
    for epoch in range(1, epochs + 1):
        for x, y in batches:  # one epoch: every training digit once, in mini-batches
            # θ ← θ − η ∂L/∂θ, L the mini-batch's mean cross-entropy (35)
            sgd_step(model, binary_cross_entropy, x, y, lr)
        images, labels = test_set.tensors
        with torch.no_grad():
            test_accuracy = accuracy(model(images).argmax(dim=1), labels)
        print(f"epoch {epoch}: test accuracy {100 * test_accuracy:.2f} %")
    return test_accuracy


if __name__ == "__main__":
    main(*sys.argv[1:2], *map(int, sys.argv[2:3]))
