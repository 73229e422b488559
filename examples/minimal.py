"""The whole textbook experiment on one screen: MNIST, the 784-30-10 network, the
cross-entropy (35), mini-batch SGD by backpropagation, and accuracy — the textbook layer, the
data layer's loader and a torch ``DataLoader`` (and the trainer's rule for CPU threads):
``python examples/minimal.py [MNIST_ROOT] [EPOCHS]``.
"""

import argparse
import sys

import torch
from torch.utils.data import DataLoader

from mnist_mlp.data import load_mnist
from mnist_mlp.errors import UserError
from mnist_mlp.textbook import MLP, sgd_step
from mnist_mlp.textbook.losses import binary_cross_entropy
from mnist_mlp.textbook.metrics import accuracy
from mnist_mlp.training import step_threads


def main(root: str | None = None, epochs: int = 1, hidden: int = 30, lr: float = 0.5,
         batch_size: int = 10, validation_size: int = 10_000) -> float:
    """Train for ``epochs``, printing the test accuracy after each; returns the last one."""
    if step_threads(batch_size) is not None:  # small mini-batches: one thread is faster
        torch.set_num_threads(step_threads(batch_size))
    torch.manual_seed(0)
    # The book's split: 50,000 digits to train on (the last 10,000 of the file validate), the
    # 10,000 test digits; each a row of 784 grey values in [0, 1), downloaded only into ./data.
    data = load_mnist(root, validation_size=validation_size)
    batches = DataLoader(data.train, batch_size=batch_size, shuffle=True)  # new order per epoch
    model = MLP(hidden)  # sigmoid hidden layer, softmax output
    for epoch in range(1, epochs + 1):
        for x, y in batches:  # one epoch: every training digit once, in mini-batches
            # θ ← θ − η ∂L/∂θ, L the mini-batch's mean cross-entropy (35)
            sgd_step(model, binary_cross_entropy, x, y, lr)
        with torch.no_grad():
            test_accuracy = accuracy(model(data.test.images).argmax(dim=1), data.test.labels)
        print(f"epoch {epoch}: test accuracy {100 * test_accuracy:.2f} %")
    return test_accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The textbook experiment on one screen.")
    parser.add_argument("root", nargs="?", help="the folder holding MNIST/raw/ (default: "
                        "$MNIST_DATA, else ./data, where MNIST is downloaded if missing)")
    parser.add_argument("epochs", nargs="?", type=int, default=1, help="default: 1")
    args = parser.parse_args()
    try:
        main(args.root, args.epochs)
    except UserError as error:  # no data, say: one line, and what to do
        sys.exit(f"error: {error}")
