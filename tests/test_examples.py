"""examples/minimal.py: the whole experiment on one screen, with the textbook layer only."""

import ast
import os
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "minimal.py"


@pytest.fixture(scope="module")
def minimal(load_script):
    return load_script("minimal", folder="examples")


def test_it_fits_on_one_screen_and_uses_only_the_textbook_layer():
    source = EXAMPLE.read_text()
    assert len(source.splitlines()) <= 60
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom)}
    assert {m for m in imported if m.startswith("mnist_mlp")} <= {
        "mnist_mlp.textbook", "mnist_mlp.textbook.losses", "mnist_mlp.textbook.metrics"}


def test_it_learns_the_tiny_digits(minimal, tiny_data, capsys):
    accuracy = minimal.main(str(tiny_data), epochs=4)
    assert accuracy > 0.5  # ten classes: chance is 0.1
    assert capsys.readouterr().out.count("test accuracy") == 4


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_one_epoch_on_real_mnist_reaches_90_percent(minimal):
    assert minimal.main(os.environ["MNIST_DATA"], epochs=1) >= 0.90
