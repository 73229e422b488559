"""examples/minimal.py: the whole experiment on one screen, with the textbook layer only."""

import ast
import os
import subprocess
import sys
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
        "mnist_mlp.training", "mnist_mlp.data", "mnist_mlp.errors"}


@pytest.fixture
def spied(minimal, monkeypatch):
    """``minimal`` whose data folder and CPU threads during each SGD step are recorded (in
    ``spied.roots``, ``spied.threads``); torch's thread count is restored afterwards."""
    roots, threads = [], []
    load, step = minimal.load_mnist, minimal.sgd_step

    def spy_load(root, validation_size):
        roots.append(root)
        return load(root, validation_size=validation_size)

    def spy_step(*args):
        threads.append(torch.get_num_threads())
        return step(*args)

    monkeypatch.setattr(minimal, "load_mnist", spy_load)
    monkeypatch.setattr(minimal, "sgd_step", spy_step)
    monkeypatch.setattr(minimal, "roots", roots, raising=False)
    monkeypatch.setattr(minimal, "threads", threads, raising=False)
    before = torch.get_num_threads()
    yield minimal
    torch.set_num_threads(before)


def test_it_reads_mnist_data_unless_given_a_folder(spied, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA", str(tiny_data))
    spied.main(epochs=1, validation_size=50)  # the loader reads $MNIST_DATA
    monkeypatch.setenv("MNIST_DATA", str(tmp_path / "elsewhere"))
    spied.main(str(tiny_data), epochs=1, validation_size=50)  # the folder given wins
    assert spied.roots == [None, str(tiny_data)]


def test_without_data_it_says_so_in_one_line_and_writes_nothing(tmp_path):
    folder = tmp_path / "named"
    folder.mkdir()
    done = subprocess.run([sys.executable, str(EXAMPLE), str(folder / "MNIST" / "raw")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: MNIST not found") and done.stderr.count("\n") == 1
    assert list(tmp_path.rglob("*")) == [folder]  # nothing made in the named folder or in ./


@pytest.mark.parametrize("batch_size", [10, 100])
def test_it_steps_on_the_threads_the_trainer_would(spied, tiny_data, batch_size):
    torch.set_num_threads(2)
    spied.main(str(tiny_data), epochs=1, batch_size=batch_size, validation_size=50)
    expected = step_threads(batch_size) or 2
    assert set(spied.threads) == {expected}


def test_it_learns_the_tiny_digits(minimal, tiny_data, capsys):
    accuracy = minimal.main(str(tiny_data), epochs=4, validation_size=50)
    assert accuracy > 0.5  # ten classes: chance is 0.1
    assert capsys.readouterr().out.count("test accuracy") == 4


@pytest.mark.skipif(not os.environ.get("MNIST_DATA"), reason="MNIST_DATA not set")
def test_one_epoch_on_real_mnist_reaches_90_percent(minimal):
    assert minimal.main(os.environ["MNIST_DATA"], epochs=1) >= 0.90
