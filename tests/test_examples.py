"""examples/minimal.py: the whole experiment on one screen, with the textbook layer only."""

import ast
import os
from pathlib import Path

import pytest
import torch

from mnist_mlp.training import step_threads

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
        "mnist_mlp.textbook", "mnist_mlp.textbook.losses", "mnist_mlp.textbook.metrics",
        "mnist_mlp.training"}


@pytest.fixture
def spied(minimal, monkeypatch):
    """``minimal`` whose data folder and CPU threads during each SGD step are recorded (in
    ``spied.roots``, ``spied.threads``); torch's thread count is restored afterwards."""
    roots, threads = [], []
    digits, step = minimal.digits, minimal.sgd_step

    def spy_digits(root, train):
        roots.append(root)
        return digits(root, train)

    def spy_step(*args):
        threads.append(torch.get_num_threads())
        return step(*args)

    monkeypatch.setattr(minimal, "digits", spy_digits)
    monkeypatch.setattr(minimal, "sgd_step", spy_step)
    monkeypatch.setattr(minimal, "roots", roots, raising=False)
    monkeypatch.setattr(minimal, "threads", threads, raising=False)
    before = torch.get_num_threads()
    yield minimal
    torch.set_num_threads(before)


def test_it_reads_mnist_data_unless_given_a_folder(spied, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA", str(tiny_data))
    spied.main(epochs=1)
    assert spied.roots == [str(tiny_data)] * 2
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "elsewhere"))
    spied.main(str(tiny_data), epochs=1)  # the folder given wins
    assert spied.roots[2:] == [str(tiny_data)] * 2


@pytest.mark.parametrize("batch_size", [10, 100])
def test_it_steps_on_the_threads_the_trainer_would(spied, tiny_data, batch_size):
    torch.set_num_threads(2)
    spied.main(str(tiny_data), epochs=1, batch_size=batch_size)
    expected = step_threads(batch_size) or 2
    assert set(spied.threads) == {expected}


def test_it_learns_the_tiny_digits(minimal, tiny_data, capsys):
    accuracy = minimal.main(str(tiny_data), epochs=4)
    assert accuracy > 0.5  # ten classes: chance is 0.1
    assert capsys.readouterr().out.count("test accuracy") == 4


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_one_epoch_on_real_mnist_reaches_90_percent(minimal):
    assert minimal.main(os.environ["MNIST_DATA"], epochs=1) >= 0.90
