"""Fixtures shared by the tests: a tiny learnable MNIST, a configuration for it, the scripts, a
folder that may not be entered."""

import importlib.util
import os
from pathlib import Path

import pytest
from idx import write_idx_mnist

from mnist_mlp import TrainConfig, files


@pytest.fixture(autouse=True)
def outside_a_job_array(monkeypatch):
    """Every test runs as outside a Slurm job array (whose task would choose a sweep's shard),
    even where the tests themselves run in one; a test sets the variables it needs."""
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN",
                 "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A folder holding MNIST/raw/ with 300 training and 100 test images of our own making."""
    root = tmp_path_factory.mktemp("mnist")
    write_idx_mnist(root, n_train=300, n_test=100)
    return root


@pytest.fixture
def config(tiny_data, tmp_path):
    """A small network on ``tiny_data``: 250 training images in 25 mini-batches, 50 held out."""
    return TrainConfig(hidden_size=16, epochs=4, lr=0.5, batch_size=10, device="cpu",
                       data_dir=str(tiny_data), validation_size=50,
                       log_dir=str(tmp_path / "runs"), log_every=5)


@pytest.fixture
def on_sgd_step(monkeypatch):
    """``on_sgd_step(hook)``: from now on every SGD step of the reference loop first calls
    ``hook(step, lr)`` (steps 1, 2, … counted from here) and steps with the learning rate it
    returns; a hook that raises ``KeyboardInterrupt`` is Ctrl-C at that step."""
    reference = importlib.import_module("mnist_mlp.training.reference")
    real_step = reference.sgd_step

    def install(hook):
        steps = 0

        def step(model, loss_fn, x, y, lr):
            nonlocal steps
            steps += 1
            return real_step(model, loss_fn, x, y, hook(steps, lr))

        monkeypatch.setattr(reference, "sgd_step", step)

    return install


@pytest.fixture(scope="session")
def load_script():
    """``load_script(name)``: the command behind ``scripts/<name>.py`` (the module
    ``mnist_mlp.cli.<name>`` or the lab's ``mnist_mlp_lab.commands.<name>``, which the script
    only runs), to call its ``main`` in-process; ``load_script(name, folder="examples")``:
    ``examples/<name>.py`` as a module."""

    def load(name: str, folder: str = "scripts"):
        if folder == "scripts":
            script = (Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py").read_text()
            assert f'run("{name}")' in script
            package = "mnist_mlp_lab.commands" if "mnist_mlp_lab" in script else "mnist_mlp.cli"
            return importlib.import_module(f"{package}.{name}")
        path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"{folder}_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def wreck(monkeypatch):
    """``wreck(seed, where)``: from now on the network that the training driver initialises with
    ``seed`` gets NaN weights — ``where="output"``: the output weights of hidden unit 0 (every
    output NaN); ``"pixel 0"``: the hidden weights of pixel 0, which is 0 in every tiny digit
    (NaN weights that only a loop reading the zero pixels turns into NaN outputs). What a huge
    η does, without depending on how a machine rounds one."""
    import torch

    driver = importlib.import_module("mnist_mlp.training.driver")
    real = driver.MLP

    def install(seed: int, where: str = "output") -> None:
        def make(*args, **kwargs):
            model = real(*args, **kwargs)
            if torch.initial_seed() == seed:  # the driver seeds torch before it initialises
                with torch.no_grad():
                    if where == "output":
                        model.output.weight[:, 0] = float("nan")
                    else:
                        model.hidden.weight[:, 0] = float("nan")
            return model

        monkeypatch.setattr(driver, "MLP", make)

    return install


@pytest.fixture
def locked(tmp_path, monkeypatch):
    """A folder that may not be entered: its contents cannot even be examined (EACCES). Tests
    may run as root, for whom chmod 000 changes nothing: then examining is refused as the
    kernel would refuse it anyone else."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0)
        yield folder
        folder.chmod(0o700)
        return
    real = files._status

    def refuse(path):
        if Path(os.path.abspath(path)).is_relative_to(folder) and Path(path) != folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(files, "_status", refuse)
    yield folder


@pytest.fixture(scope="module")
def one_epoch_run(tiny_data, tmp_path_factory):
    """The run folder of a one-epoch run of the train command (l = 8, on the CPU)."""
    from mnist_mlp.cli.train import main as train_main

    log_dir = tmp_path_factory.mktemp("runs")
    assert train_main(["--hidden", "8", "--epochs", "1", "--device", "cpu", "--data-dir",
                       str(tiny_data), "--validation-size", "50", "--log-dir",
                       str(log_dir)]) == 0
    (run_dir,) = log_dir.iterdir()
    return run_dir


@pytest.fixture
def image(tmp_path):
    """A PNG of one dark bar on white, 40 × 30: a digit one to predict."""
    import numpy as np
    from PIL import Image

    digit = np.full((40, 30), 255, dtype=np.uint8)
    digit[5:35, 12:18] = 0
    Image.fromarray(digit).save(tmp_path / "one.png")
    return tmp_path / "one.png"
